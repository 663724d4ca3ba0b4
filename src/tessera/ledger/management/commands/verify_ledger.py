"""`tessera verify-ledger [--merchant slug]`: prove the ledger agrees with itself; non-zero exit if not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tessera.ledger.selectors import ledger_counts, verify_ledger
from tessera.tenancy.models import Merchant


class Command(BaseCommand):
    help = (
        "Check that every account's balance equals the sum of its entries and of its open lots, that "
        "pending and held match their lots and holds, and that each entry's balance_after is right."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", metavar="SLUG", help="Check one merchant only.")

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = None
        if options["merchant"]:
            merchant = Merchant.objects.filter(slug=options["merchant"]).first()
            if merchant is None:
                raise CommandError(f"No merchant with slug {options['merchant']!r}.")
        counts = ledger_counts(merchant)
        problems = verify_ledger(merchant)
        for problem in problems:
            self.stderr.write(str(problem))
        summary = (
            f"Checked {counts.accounts} accounts, {counts.entries} entries, {counts.open_lots} open lots, "
            f"{counts.active_holds} active holds: {len(problems)} problems."
        )
        if problems:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))
