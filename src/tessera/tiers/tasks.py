"""Scheduled tier work (F1, issue 15 §2): the downgrade review of every program that is due, then the
downgrade notices due before the next review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.core.progress import SILENT, Progress
from tessera.tenancy import config
from tessera.tiers.models import TierProgram
from tessera.tiers.services import ReviewResult, record_downgrade_notices, review_due, review_program


@dataclass(frozen=True)
class ProgramRun:
    review: ReviewResult | None
    notices: int


def reevaluate_tiers(now: datetime | None = None, *, progress: Progress = SILENT) -> dict[int, ReviewResult]:
    """Review every active program whose period (day, month, year in its time zone) has begun since its
    last review. Re-running is harmless: a reviewed program is not due again until the next period."""
    return {
        merchant_id: run.review
        for merchant_id, run in run_tier_jobs(now, progress=progress).items()
        if run.review is not None
    }


def run_tier_jobs(now: datetime | None = None, *, progress: Progress = SILENT) -> dict[int, ProgramRun]:
    """Each active program's review when due, then its downgrade notices: merchant id → what was done.
    `now` may be a past instant (`tessera review_tiers --as-of`): both jobs then decide as they would
    have at that instant, on the ledger as it stood."""
    now = now or timezone.now()
    results: dict[int, ProgramRun] = {}
    for program in TierProgram.objects.filter(is_active=True).select_related("merchant").order_by("pk"):
        due = review_due(program, now)
        with config.observed(program.merchant_id):
            review = review_program(program=program, now=now, progress=progress) if due else None
        results[program.merchant_id] = ProgramRun(
            review=review, notices=record_downgrade_notices(program=program, now=now)
        )
    return results


@db_periodic_task(crontab(minute="20"))
def reevaluate_tiers_hourly() -> None:
    """Hourly, so each merchant's period starts in its own time zone within the hour."""
    run_tier_jobs()
