"""Scheduled tier work (F1): the downgrade review of every program that is due."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.tiers.models import TierProgram
from tessera.tiers.services import ReviewResult, review_due, review_program


def reevaluate_tiers(now: datetime | None = None) -> dict[int, ReviewResult]:
    """Review every active program whose period (day, month, year in its time zone) has begun since its
    last review. Re-running is harmless: a reviewed program is not due again until the next period."""
    now = now or timezone.now()
    results: dict[int, ReviewResult] = {}
    for program in TierProgram.objects.filter(is_active=True).select_related("merchant").order_by("pk"):
        if review_due(program, now):
            results[program.merchant_id] = review_program(program=program, now=now)
    return results


@db_periodic_task(crontab(minute="20"))
def reevaluate_tiers_hourly() -> None:
    """Hourly, so each merchant's period starts in its own time zone within the hour."""
    reevaluate_tiers()
