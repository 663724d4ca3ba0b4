"""Reads of the ledger: account summaries, lots, entries, a user's day at the till, and the proof that
the cached counters agree with the entries and lots (`verify_ledger`, `tessera verify-ledger`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from tessera.ledger.models import (
    Account,
    AccountKind,
    Entry,
    Hold,
    HoldStatus,
    Lot,
    LotUse,
    live_counts,
    unexpired,
)
from tessera.members.models import Member
from tessera.tenancy.models import Merchant, StaffMembership, Store


def expiry_notice_days() -> int:
    """How many days ahead members are told that points will expire (E10)."""
    return int(getattr(settings, "TESSERA_EXPIRY_NOTICE_DAYS", 14))


# --- one account ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringPoints:
    expires_at: datetime
    amount: int


def with_live_balances(accounts: QuerySet[Account], *, now: datetime | None = None) -> QuerySet[Account]:
    """`accounts` read with what their cached counters cannot know yet at `now` (lots expired or due
    since the nightly jobs last ran), in the same statement: their `live_balance`, `live_pending` and
    `spendable` then cost no query. Every balance the product shows or answers comes from these."""
    return accounts.annotate(**live_counts(now))


@dataclass(frozen=True)
class AccountSummary:
    account_id: int
    kind: str
    #: What the account holds now: lots past their expiry are not counted, swept or not.
    balance: int
    #: Units whose return window is still open.
    pending: int
    held: int
    #: What a spend could take now: released (or due) unexpired lots less holds.
    spendable: int
    #: Units whose return window has not passed yet, with the earliest release.
    next_release_at: datetime | None
    #: Units expiring within the notice window, soonest first.
    expiring_soon: list[ExpiringPoints]


def spend_order(lots: QuerySet[Lot]) -> QuerySet[Lot]:
    """First-expiring first (never-expiring last), then oldest earned, then oldest row (E10)."""
    return lots.order_by(F("expires_at").asc(nulls_last=True), "earned_at", "pk")


def lots_of(*, account: Account, open_only: bool = True) -> QuerySet[Lot]:
    """The account's lots in the order a spend consumes them; only those with units left by default."""
    lots = Lot.objects.of(account.merchant_id).filter(account=account)
    if open_only:
        lots = lots.filter(remaining__gt=0)
    return spend_order(lots)


def account_summary(
    *, account: Account, now: datetime | None = None, days: int | None = None
) -> AccountSummary:
    now = now or timezone.now()
    horizon = now + timedelta(days=expiry_notice_days() if days is None else days)
    live = with_live_balances(Account.objects.filter(pk=account.pk), now=now).get()
    open_lots = Lot.objects.filter(account=account, remaining__gt=0)
    next_release = (
        open_lots.filter(unexpired(now), released=False, available_at__gt=now)
        .order_by("available_at")
        .values_list("available_at", flat=True)
        .first()
    )
    expiring = (
        open_lots.filter(expires_at__gt=now, expires_at__lte=horizon)
        .values("expires_at")
        .annotate(total=Sum("remaining"))
        .order_by("expires_at")
    )
    return AccountSummary(
        account_id=account.pk,
        kind=account.kind,
        balance=live.live_balance,
        pending=live.live_pending,
        held=live.held,
        spendable=live.spendable,
        next_release_at=next_release,
        expiring_soon=[ExpiringPoints(expires_at=row["expires_at"], amount=row["total"]) for row in expiring],
    )


# --- entries ---------------------------------------------------------------------------------------


def entries_of(
    *,
    merchant: Merchant,
    account: Account | None = None,
    member: Member | None = None,
    staff: StaffMembership | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[Entry]:
    """Entries of an account, or of all a member's accounts, newest first, one page at a time.

    Scoped to `merchant`, and to the stores a store-scoped `staff` may see when given (B2)."""
    entries = Entry.objects.visible_to(staff) if staff is not None else Entry.objects.of(merchant)
    entries = entries.filter(merchant=merchant)
    if account is not None:
        entries = entries.filter(account=account)
    if member is not None:
        entries = entries.filter(account__member=member)
    entries = entries.select_related("store", "created_by").order_by("-occurred_at", "-pk")
    return Paginator(entries, per_page).get_page(page)


@dataclass(frozen=True)
class DayTotals:
    added: int
    deducted: int
    entries: int


def totals_for_day(*, merchant: Merchant, store: Store | None, actor: Any, date: date) -> DayTotals:
    """Points a user added and deducted on one day at a store (all stores when None), for the scanner.

    The day is the store's calendar day (the merchant's when no store)."""
    tz = store.tz if store is not None else merchant.tz
    start = datetime.combine(date, time.min, tzinfo=tz)
    end = datetime.combine(date + timedelta(days=1), time.min, tzinfo=tz)
    entries = Entry.objects.of(merchant).filter(
        account__kind=AccountKind.POINTS,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        occurred_at__gte=start,
        occurred_at__lt=end,
    )
    if store is not None:
        entries = entries.filter(store=store)
    totals = entries.aggregate(
        added=Coalesce(Sum("amount", filter=Q(amount__gt=0)), Value(0)),
        deducted=Coalesce(Sum("amount", filter=Q(amount__lt=0)), Value(0)),
    )
    return DayTotals(added=totals["added"], deducted=-totals["deducted"], entries=entries.count())


# --- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One way the ledger disagrees with itself. `code` is stable; `expected`/`found` are the numbers."""

    code: str
    account_id: int | None
    expected: int
    found: int
    entry_id: int | None = None
    lot_id: int | None = None

    def __str__(self) -> str:
        where = f"account {self.account_id}"
        if self.entry_id:
            where += f", entry {self.entry_id}"
        if self.lot_id:
            where += f", lot {self.lot_id}"
        return f"{self.code} ({where}): expected {self.expected}, found {self.found}"


@dataclass(frozen=True)
class LedgerCounts:
    accounts: int
    entries: int
    open_lots: int
    active_holds: int


def ledger_counts(merchant: Merchant | None = None) -> LedgerCounts:
    def scoped(qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(merchant=merchant) if merchant is not None else qs

    return LedgerCounts(
        accounts=scoped(Account.objects.all()).count(),
        entries=scoped(Entry.objects.all()).count(),
        open_lots=scoped(Lot.objects.filter(remaining__gt=0)).count(),
        active_holds=scoped(Hold.objects.filter(status=HoldStatus.ACTIVE)).count(),
    )


def _sum_of(qs: QuerySet[Any], field: str) -> Coalesce:
    """A correlated `SUM(field)` of `qs` (already filtered by OuterRef), 0 when there are no rows."""
    total = qs.order_by().annotate(total=Sum(field)).values("total")
    return Coalesce(Subquery(total[:1]), Value(0))


def verify_ledger(merchant: Merchant | None = None) -> list[Problem]:
    """Every disagreement in the ledger (of one merchant, or all): an empty list is a clean ledger.

    Per account: balance == sum(entries) == sum(lots.remaining); pending == sum(remaining of
    unreleased lots); held == sum(active holds); each entry's balance_after is the running sum of
    the account's entries in the order they were written. Per lot: remaining == amount + its uses.
    Per entry: amount == the lots it opened + the lot uses it recorded; same merchant as its account.
    Every check is one set-based query, so it runs on millions of rows without loading them."""

    def scoped(qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(merchant=merchant) if merchant is not None else qs

    problems: list[Problem] = []
    accounts = scoped(Account.objects.all()).annotate(
        entries_total=_sum_of(Entry.objects.filter(account=OuterRef("pk")).values("account"), "amount"),
        lots_total=_sum_of(Lot.objects.filter(account=OuterRef("pk")).values("account"), "remaining"),
        pending_total=_sum_of(
            Lot.objects.filter(account=OuterRef("pk"), released=False).values("account"), "remaining"
        ),
        held_total=_sum_of(
            Hold.objects.filter(account=OuterRef("pk"), status=HoldStatus.ACTIVE).values("account"), "amount"
        ),
    )
    mismatched = accounts.filter(
        ~Q(balance=F("entries_total"))
        | ~Q(balance=F("lots_total"))
        | ~Q(pending=F("pending_total"))
        | ~Q(held=F("held_total"))
    ).order_by("pk")
    for row in mismatched.values("pk", "balance", "pending", "held", *_TOTALS).iterator():
        for code, cached, total in (
            ("balance_not_sum_of_entries", "balance", "entries_total"),
            ("balance_not_sum_of_lots", "balance", "lots_total"),
            ("pending_not_sum_of_unreleased_lots", "pending", "pending_total"),
            ("held_not_sum_of_active_holds", "held", "held_total"),
        ):
            if row[cached] != row[total]:
                problems.append(
                    Problem(code=code, account_id=row["pk"], expected=row[total], found=row[cached])
                )

    running = scoped(Entry.objects.all()).annotate(
        running=Window(Sum("amount"), partition_by=[F("account_id")], order_by=F("pk").asc())
    )
    for entry_id, account_id, balance_after, expected in (
        running.exclude(running=F("balance_after"))
        .order_by("pk")
        .values_list("pk", "account_id", "balance_after", "running")
        .iterator()
    ):
        problems.append(
            Problem(
                code="balance_after_not_running_sum",
                account_id=account_id,
                entry_id=entry_id,
                expected=expected,
                found=balance_after,
            )
        )

    lots = scoped(Lot.objects.all()).annotate(
        used=_sum_of(LotUse.objects.filter(lot=OuterRef("pk")).values("lot"), "amount")
    )
    for lot_id, account_id, remaining, expected in (
        lots.exclude(remaining=F("amount") + F("used"))
        .order_by("pk")
        .annotate(expected=F("amount") + F("used"))
        .values_list("pk", "account_id", "remaining", "expected")
        .iterator()
    ):
        problems.append(
            Problem(
                code="lot_remaining_not_amount_plus_uses",
                account_id=account_id,
                lot_id=lot_id,
                expected=expected,
                found=remaining,
            )
        )

    entries = scoped(Entry.objects.all()).annotate(
        opened=_sum_of(Lot.objects.filter(entry=OuterRef("pk")).values("entry"), "amount"),
        used=_sum_of(LotUse.objects.filter(entry=OuterRef("pk")).values("entry"), "amount"),
    )
    for entry_id, account_id, amount, expected in (
        entries.exclude(amount=F("opened") + F("used"))
        .order_by("pk")
        .annotate(expected=F("opened") + F("used"))
        .values_list("pk", "account_id", "amount", "expected")
        .iterator()
    ):
        problems.append(
            Problem(
                code="entry_amount_not_its_lot_movements",
                account_id=account_id,
                entry_id=entry_id,
                expected=expected,
                found=amount,
            )
        )

    for entry_id, account_id, merchant_id, account_merchant_id in (
        scoped(Entry.objects.all())
        .exclude(merchant_id=F("account__merchant_id"))
        .values_list("pk", "account_id", "merchant_id", "account__merchant_id")
        .iterator()
    ):
        problems.append(
            Problem(
                code="entry_merchant_not_account_merchant",
                account_id=account_id,
                entry_id=entry_id,
                expected=account_merchant_id,
                found=merchant_id,
            )
        )
    return problems


_TOTALS = ("entries_total", "lots_total", "pending_total", "held_total")
