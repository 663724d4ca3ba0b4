"""`tessera review_tiers [--as-of INSTANT] [--no-progress]`: run the tier review and downgrade notices
now, or as they would have run at a past instant (operators catching up after downtime; tests). On a
terminal, a progress bar per program reviewed (on standard error)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tessera.core.progress import console_progress
from tessera.tiers.tasks import run_tier_jobs


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of: not an ISO 8601 date and time: {text!r}.") from None
    if timezone.is_naive(moment):
        raise CommandError("--as-of needs a UTC offset, e.g. 2026-03-01T00:30+07:00.")
    return moment


class Command(BaseCommand):
    help = (
        "Review every tier program that is due (lower the tiers the ranking no longer holds once any "
        "hold has ended) and record the downgrade notices due before the next review."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of",
            metavar="INSTANT",
            help="Decide as at this instant (ISO 8601 with offset) instead of now; run one instant after "
            "the other, oldest first, to catch up on missed reviews.",
        )
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="No progress bars (there are none anyway when the output is not a terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = _instant(options["as_of"]) if options["as_of"] else timezone.now()
        if now > timezone.now():
            raise CommandError("--as-of cannot be in the future.")
        with console_progress(sys.stderr, enabled=not options["no_progress"]) as progress:
            runs = run_tier_jobs(now, progress=progress)
        for merchant_id, run in runs.items():
            done = run.review
            review = (
                f"reviewed {done.reviewed}, downgraded {done.downgraded}, renewed {done.renewed}"
                if done is not None
                else "review not due"
            )
            self.stdout.write(f"merchant {merchant_id}: {review}; downgrade notices {run.notices}")
        self.stdout.write(self.style.SUCCESS(f"{len(runs)} tier programs as of {now.isoformat()}."))
