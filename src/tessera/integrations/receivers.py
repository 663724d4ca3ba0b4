"""Domain events become outbound webhook deliveries (K2). Runs after the writer's commit."""

from __future__ import annotations

from typing import Any

from tessera.integrations import services


def on_event_published(
    sender: Any, *, merchant_id: int, type: str, payload: dict[str, Any], **kwargs: Any
) -> None:
    from tessera.integrations.tasks import deliver_webhook

    for delivery in services.record_event(merchant_id=merchant_id, type=type, payload=payload):
        deliver_webhook(delivery.pk)
