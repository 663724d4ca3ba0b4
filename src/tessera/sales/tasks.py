"""Scheduled work of the sales app."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.core.idempotency import purge_idempotency_records


@db_periodic_task(crontab(hour="3", minute="20"))
def purge_old_idempotency_records() -> int:
    """E11: stored API answers are kept IDEMPOTENCY_RETENTION_DAYS (default 7), then deleted nightly."""
    return purge_idempotency_records()
