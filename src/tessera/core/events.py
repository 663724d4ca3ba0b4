"""Domain events: what happened, for side effects the writer should not know about (K2 webhooks,
notifications). Services call `publish` inside their transaction; receivers run only after commit, so
a rolled-back write never announces itself;
receivers of `event_recorded` run inside it, so what they write commits or rolls back with it.

Event types are dotted names: `points.earned`, `points.spent`, `sale.confirmed`, `sale.voided`,
`sale.refunded`, `member.created`, `member.updated`, `member.tier_changed`, `card.activated`, ...
The payload is JSON-serialisable and never contains more personal data than the receiver needs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

#: Sent inside the writer's transaction, for receivers that must record the event atomically with the
#: write (the webhook outbox): a worker killed right after the commit must not lose it. A receiver that
#: raises fails the write.
event_recorded = Signal()

#: Sent after commit with `merchant_id`, `type` and `payload` keyword arguments.
event_published = Signal()

logger = logging.getLogger(__name__)


def publish(*, merchant_id: int, type: str, payload: dict[str, Any]) -> None:
    event_recorded.send(sender=None, merchant_id=merchant_id, type=type, payload=payload)
    transaction.on_commit(
        lambda: event_published.send(sender=None, merchant_id=merchant_id, type=type, payload=payload),
        robust=True,
    )


def publish_many(*, merchant_id: int, type: str, payloads: Iterable[dict[str, Any]]) -> None:
    """`publish` of each payload, for bulk work (issue 16: a tier review lowers thousands of members per
    chunk): `event_recorded` per event inside the transaction as `publish` sends it, then after the
    commit `event_published` per event from one callback — a receiver that raises on one event is
    logged and the others still get theirs."""
    batch = list(payloads)
    for payload in batch:
        event_recorded.send(sender=None, merchant_id=merchant_id, type=type, payload=payload)
    if batch:
        transaction.on_commit(lambda: _published(merchant_id, type, batch))


def _published(merchant_id: int, type: str, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        for receiver, outcome in event_published.send_robust(
            sender=None, merchant_id=merchant_id, type=type, payload=payload
        ):
            if isinstance(outcome, Exception):
                logger.error(
                    "%s failed on event %s of merchant %s",
                    getattr(receiver, "__qualname__", receiver),
                    type,
                    merchant_id,
                    exc_info=outcome,
                )
