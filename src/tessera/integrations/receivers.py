"""Domain events become outbound webhook deliveries (K2): recorded in the writer's transaction (an outbox,
so an event is never lost between the commit and its delivery), sent after the commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from tessera.integrations import services


def on_event_recorded(
    sender: Any, *, merchant_id: int, type: str, payload: dict[str, Any], **kwargs: Any
) -> None:
    from tessera.integrations.tasks import deliver_webhook

    deliveries = [d.pk for d in services.record_event(merchant_id=merchant_id, type=type, payload=payload)]
    if not deliveries:
        return
    # A lost queue message is not a lost event: the periodic sweep sends every delivery still due.
    transaction.on_commit(lambda: [deliver_webhook(pk) for pk in deliveries], robust=True)
