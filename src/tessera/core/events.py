"""Domain events: what happened, for side effects the writer should not know about (K2 webhooks,
notifications). Services call `publish` inside their transaction; receivers run only after commit, so
a rolled-back write never announces itself;
receivers of `event_recorded` run inside it, so what they write commits or rolls back with it.

Event types are dotted names: `points.earned`, `points.spent`, `sale.confirmed`, `sale.voided`,
`sale.refunded`, `member.created`, `member.updated`, `member.tier_changed`, `card.activated`, ...
The payload is JSON-serialisable and never contains more personal data than the receiver needs.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

#: Sent inside the writer's transaction, for receivers that must record the event atomically with the
#: write (the webhook outbox): a worker killed right after the commit must not lose it. A receiver that
#: raises fails the write.
event_recorded = Signal()

#: Sent after commit with `merchant_id`, `type` and `payload` keyword arguments.
event_published = Signal()


def publish(*, merchant_id: int, type: str, payload: dict[str, Any]) -> None:
    event_recorded.send(sender=None, merchant_id=merchant_id, type=type, payload=payload)
    transaction.on_commit(
        lambda: event_published.send(sender=None, merchant_id=merchant_id, type=type, payload=payload),
        robust=True,
    )
