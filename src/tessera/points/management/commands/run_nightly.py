"""`tessera run_nightly [--as-of 2027-01-01T00:05+07:00]`: the nightly jobs as of a given instant.

For an operator catching up after downtime (each job can re-run: what it already did no longer matches
its filter) and for tests: release pending points, expire points past their date, note the expiries
within each merchant's notice period and queue the notice messages, then review the tier programs that
are due. Without `--as-of`, as of now. On a terminal, progress bars for the release, the expiry and each
tier review (on standard error; `--no-progress`: none).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tessera.core.progress import console_progress
from tessera.marketing.notices import send_expiry_notices
from tessera.points.tasks import run_nightly
from tessera.tiers.tasks import reevaluate_tiers


def instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--as-of: not an ISO 8601 date and time: {text!r}") from error
    if moment.tzinfo is None:
        raise CommandError("--as-of: give the UTC offset too, e.g. 2027-01-01T00:05+07:00")
    return moment


class Command(BaseCommand):
    help = "Run the nightly jobs (release, expiry, expiry notices, tier review) as of a given time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of", type=instant, default=None, help="ISO 8601 with an offset; default: now"
        )
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="No progress bars (there are none anyway when the output is not a terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = options["as_of"] or timezone.now()
        with console_progress(sys.stderr, enabled=not options["no_progress"]) as progress:
            result = run_nightly(now, progress=progress)
            messages = send_expiry_notices(now=now)
            reviews = reevaluate_tiers(now, progress=progress)
        self.stdout.write(
            f"as of {now.isoformat()}: released {result.released}, expired {result.expired} points; "
            f"{result.notices} expiry notices, {messages} messages queued; "
            f"{len(reviews)} tier programs reviewed"
        )
