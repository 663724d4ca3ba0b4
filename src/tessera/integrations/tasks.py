"""Outbound webhook delivery (K2): one task per delivery, rescheduled with backoff; a sweep every minute
picks up anything due that the queue lost."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tessera.integrations import services


def _schedule(delivery_id: int, delay_seconds: int) -> None:
    deliver_webhook.schedule(args=(delivery_id,), delay=delay_seconds)


@db_task()
def deliver_webhook(delivery_id: int) -> None:
    services.attempt(delivery_id=delivery_id, schedule=_schedule)


@db_periodic_task(crontab(minute="*"))
def deliver_due_webhooks() -> int:
    return services.deliver_due()
