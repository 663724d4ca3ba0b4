"""Background work of the marketing app (huey): queue campaigns, drain the queue at each channel's rate,
send automatic notices. Every task can run twice without sending anything twice (see `delivery`)."""

from __future__ import annotations

from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tessera.marketing import delivery, notices, services


@db_task()
def queue_campaign_task(campaign_id: int) -> int:
    queued = services.queue_campaign(campaign_id=campaign_id)
    delivery.drain()
    return queued


@db_task()
def drain_task(merchant_id: int | None = None) -> int:
    return delivery.drain(merchant_id=merchant_id)


@db_task()
def notify_event_task(merchant_id: int, type: str, payload: dict[str, Any]) -> int:
    messages = notices.notify_event(merchant_id=merchant_id, type=type, payload=payload)
    return delivery.drain(merchant_id=merchant_id) if messages else 0


@db_periodic_task(crontab(minute="*"))
def send_messages_every_minute() -> int:
    """Queue the campaigns that are due, then send what every channel's rate allows this minute."""
    for campaign_id in delivery.due_campaigns(services.timezone.now()):
        services.queue_campaign(campaign_id=campaign_id)
    return delivery.drain()


@db_periodic_task(crontab(minute="10"))
def send_notices_hourly() -> int:
    """Expiry notices recorded by the ledger's nightly job, downgrade notices recorded by the tiers'
    review, and the greetings due in each time zone."""
    return notices.send_expiry_notices() + notices.send_downgrade_notices() + notices.send_greetings()
