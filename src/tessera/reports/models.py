"""Pre-aggregated daily figures behind the reports (J1, J5, J7, A3), and the reports' permissions.

Two kinds of table, so no till ever waits on another (DESIGN "The ledger"):

- *deltas* (`EntryDelta`, `SaleDelta`) are insert-only: one row per ledger entry or sale change, written
  by database triggers (`reports.triggers`) in the statement that writes the entry or the sale, so they
  are exact and never counted twice. Sixteen tills writing at once insert sixteen rows; nobody updates a
  shared row.
- *daily rows* (`LedgerDay`, `LotFlowDay`, `SalesDay`) hold the sums per day and dimension. The
  compaction task folds deltas into them: it deletes a batch of deltas (DELETE … RETURNING) and adds
  their sums to the daily rows in one transaction, so a delta is folded exactly once whatever the
  commit order.

Reports read daily rows plus the deltas not yet folded, in one snapshot, so they are always exact.

Dimension columns are plain integers with 0 for "none" (no store, system actor, no card type, no
tier) rather than nullable foreign keys: a unique key with NULLs in it would never conflict, and the
upsert relies on the conflict. They are derived data: `tessera rebuild_report_aggregates` recomputes
them from the ledger and sales tables at any time.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tessera.tenancy.models import Merchant

NONE = 0


class Report(models.Model):
    """No table: carries the reports' permissions (view each report, print/export reports)."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        permissions = [
            ("view_sales_report", _("Can view the transaction report")),
            ("view_crm_report", _("Can view the customer report")),
            ("view_tier_report", _("Can view the tier movement report")),
            ("view_card_audit_report", _("Can view the daily card operations report")),
            ("view_staff_report", _("Can view the staff daily report")),
            ("view_liability_report", _("Can view the liability report")),
            ("view_settlement_report", _("Can view the inter-store settlement report")),
            ("export_reports", _("Can print/export reports")),
        ]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class EntryDelta(models.Model):
    """One ledger entry, keyed as the daily tables key it, waiting to be folded (insert-only)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    entry_id = models.BigIntegerField()
    day = models.DateField()
    store_id = models.BigIntegerField(default=NONE)
    account_kind = models.CharField(max_length=20)
    kind = models.CharField(max_length=20)
    reversed_kind = models.CharField(max_length=20, default="")
    actor_id = models.BigIntegerField(default=NONE)
    amount = models.BigIntegerField()
    sale_amount = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant", "day"])]

    def __str__(self) -> str:
        return f"entry {self.entry_id} {self.amount:+d}"


class LedgerDay(models.Model):
    """Ledger movements per local day, store, account kind, entry kind and staff user (J5, J7)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    store_id = models.BigIntegerField(default=NONE)
    account_kind = models.CharField(max_length=20)
    kind = models.CharField(max_length=20)
    #: For a reversal, the kind of the entry it reverses: a refund of a spend is "reversal"/"spend".
    reversed_kind = models.CharField(max_length=20, default="")
    actor_id = models.BigIntegerField(default=NONE)
    credit = models.BigIntegerField(default=0)
    debit = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)
    sale_amount = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "store_id", "account_kind", "kind", "reversed_kind", "actor_id"],
                name="ledgerday_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.account_kind} {self.kind}"


class LotFlowDay(models.Model):
    """Value moving in or out of lots per local day, by the store that issued the lot (`origin_store_id`)
    and the store where it moved (`use_store_id`): the liability per issuing store (J7) and what one
    store's value was consumed in another (A3)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    account_kind = models.CharField(max_length=20)
    origin_store_id = models.BigIntegerField(default=NONE)
    use_store_id = models.BigIntegerField(default=NONE)
    kind = models.CharField(max_length=20)
    reversed_kind = models.CharField(max_length=20, default="")
    amount = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "merchant",
                    "day",
                    "account_kind",
                    "origin_store_id",
                    "use_store_id",
                    "kind",
                    "reversed_kind",
                ],
                name="lotflowday_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.origin_store_id}→{self.use_store_id} {self.amount:+d}"


class SaleDelta(models.Model):
    """A sale confirmed (+1), voided after confirmation (-1, on the sale's day) or refunded (on the
    refund's day), waiting to be folded (insert-only)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    store_id = models.BigIntegerField()
    card_type_id = models.BigIntegerField(default=NONE)
    tier_id = models.BigIntegerField(default=NONE)
    sales = models.BigIntegerField(default=0)
    amount = models.BigIntegerField(default=0)
    discount = models.BigIntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["merchant", "day"])]

    def __str__(self) -> str:
        return f"{self.day} store {self.store_id} {self.sales:+d}"


class SalesDay(models.Model):
    """Confirmed sales (voided ones taken out) and refunds per local day, store, card type and tier (J1)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    store_id = models.BigIntegerField()
    card_type_id = models.BigIntegerField(default=NONE)
    tier_id = models.BigIntegerField(default=NONE)
    sales = models.BigIntegerField(default=0)
    #: What the customer paid: total less discount, in minor units.
    amount = models.BigIntegerField(default=0)
    discount = models.BigIntegerField(default=0)
    refunds = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "store_id", "card_type_id", "tier_id"], name="salesday_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} store {self.store_id}"


class MemberVisits(models.Model):
    """Confirmed sales (visits) per member and calendar month in the merchant's time zone, store and card
    type (issue 16): the shopping frequency of whole months reads these rows instead of the sales.

    Kept by the sale trigger (`reports.triggers`) in the statement that confirms or voids the sale: the
    row is the member's own, so two tills wait on each other only when they sell to the same member at
    the same instant. A voided sale takes its visit back (rows may fall to 0 visits)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    #: The first day of the month.
    month = models.DateField()
    member_id = models.BigIntegerField()
    store_id = models.BigIntegerField()
    card_type_id = models.BigIntegerField(default=NONE)
    visits = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "month", "member_id", "store_id", "card_type_id"],
                name="membervisits_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} member {self.member_id}: {self.visits}"


class MemberCount(models.Model):
    """Current members (not erased, not replaced by a phone change) per home store and value of one
    dimension: `birthday` (ISO date, "" when unknown), `region` or `occupation` (issue 16). The customers
    report's age bands, regions and occupations read these rows instead of the members.

    Kept by the member trigger (`reports.triggers`) in the statement that inserts, changes or deletes a
    member; age bands are computed from the birthdays when the report is read, so they move with the
    calendar without any write."""

    class Dimension(models.TextChoices):
        BIRTHDAY = "birthday"
        REGION = "region"
        OCCUPATION = "occupation"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    home_store_id = models.BigIntegerField(default=NONE)
    dimension = models.CharField(max_length=20, choices=Dimension.choices)
    value = models.CharField(max_length=100)
    members = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "dimension", "home_store_id", "value"], name="membercount_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.value!r}: {self.members}"
