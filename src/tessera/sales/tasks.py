"""Scheduled work of the sales app."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.core.errors import Conflict
from tessera.core.idempotency import purge_idempotency_records
from tessera.sales import services
from tessera.sales.models import Transaction, TransactionStatus

#: Stored on the sale as its void reason; plain text, as the reason a staff member would type.
ABANDONED = "abandoned: not confirmed in time"


@db_periodic_task(crontab(hour="3", minute="20"))
def purge_old_idempotency_records() -> int:
    """E11: stored API answers are kept IDEMPOTENCY_RETENTION_DAYS (default 7), then deleted nightly."""
    return purge_idempotency_records()


@db_periodic_task(crontab(minute="*/5"))
def void_abandoned_sales_task() -> int:
    return void_abandoned_sales()


def void_abandoned_sales(*, now: datetime | None = None) -> int:
    """A sale left pending past SALES_PENDING_TIMEOUT_MINUTES (default 30) is voided, so the points and
    stored value it holds become spendable again. Each sale is voided in its own transaction."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.SALES_PENDING_TIMEOUT_MINUTES)
    stale = Transaction.objects.filter(status=TransactionStatus.PENDING, created_at__lt=cutoff).only("pk")
    voided = 0
    for sale in stale.iterator(chunk_size=500):
        try:
            services.void_transaction(transaction=sale, reason=ABANDONED, now=now)
        except Conflict:
            continue  # confirmed or voided meanwhile by the till
        voided += 1
    return voided
