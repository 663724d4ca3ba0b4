"""Domain events: what happened, for side effects the writer should not know about (K2 webhooks,
notifications). Services call `publish` inside their transaction; receivers run only after commit, so
a rolled-back write never announces itself.

Event types are dotted names: `points.earned`, `points.spent`, `sale.confirmed`, `sale.voided`,
`sale.refunded`, `member.created`, `member.updated`, `member.tier_changed`, `card.activated`, ...
The payload is JSON-serialisable and never contains more personal data than the receiver needs.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

#: Sent after commit with `merchant_id`, `type` and `payload` keyword arguments.
event_published = Signal()


def publish(*, merchant_id: int, type: str, payload: dict[str, Any]) -> None:
    transaction.on_commit(
        lambda: event_published.send(sender=None, merchant_id=merchant_id, type=type, payload=payload),
        robust=True,
    )
