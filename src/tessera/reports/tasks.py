"""Scheduled report work: fold the waiting deltas into the daily tables (see aggregates.py)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.reports.aggregates import compact


@db_periodic_task(crontab(minute="*"))
def compact_report_aggregates() -> None:
    """Every minute: reports read waiting deltas too, so this only keeps that part small."""
    compact()
