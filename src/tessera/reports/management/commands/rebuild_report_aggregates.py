"""`tessera rebuild_report_aggregates [--merchant slug]`: recompute the reports' daily tables from the
ledger and sales tables (after a deploy that adds them, after a time-zone change, or to check them)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tessera.reports.aggregates import rebuild
from tessera.tenancy.models import Merchant


class Command(BaseCommand):
    help = "Recompute the reports' daily tables from the raw ledger and sales tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", metavar="SLUG", help="Rebuild one merchant only.")

    def handle(self, *args: Any, **options: Any) -> None:
        merchants = Merchant.objects.order_by("pk")
        if options["merchant"]:
            merchants = merchants.filter(slug=options["merchant"])
            if not merchants.exists():
                raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        for merchant in merchants:
            started = time.monotonic()
            rebuild(merchant=merchant)
            self.stdout.write(f"{merchant.slug}: rebuilt in {time.monotonic() - started:.1f} s")
