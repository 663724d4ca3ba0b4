"""Reads behind the back-office pages: the merchant dashboard, the member 360 page and the till lookup.

Everything takes a `Scope`: the merchant, and the stores of a store-scoped staff member (B2). Days are
the merchant's calendar days (DESIGN "Money, points, time").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.paginator import Page
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.sums import WideSum
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, Lot
from tessera.ledger.selectors import AccountSummary, account_summary, entries_of, lots_of
from tessera.members.models import Member
from tessera.members.selectors import find_member_by_phone, search_members
from tessera.points.policy import policy_of
from tessera.reports import aggregates
from tessera.reports import selectors as report_selectors
from tessera.reports.selectors import Filters, ReportScope
from tessera.sales.models import Transaction, TransactionLine, TransactionStatus
from tessera.tenancy.models import Merchant, StaffMembership, Store
from tessera.tiers.selectors import TierStatus, tier_status

TOP_STORES = 5


@dataclass(frozen=True)
class Scope:
    """Whose data a page shows: a merchant, and only some of its stores when `store_ids` is a tuple."""

    merchant: Merchant
    store_ids: tuple[int, ...] | None = None
    staff: StaffMembership | None = None

    @classmethod
    def of_staff(cls, staff: StaffMembership) -> Scope:
        stores = None if staff.all_stores else tuple(staff.store_ids())
        return cls(merchant=staff.merchant, store_ids=stores, staff=staff)

    def stores(self) -> QuerySet[Store]:
        stores = Store.objects.of(self.merchant)
        return stores if self.store_ids is None else stores.filter(pk__in=self.store_ids)

    def in_stores(self, qs: QuerySet[Any], store_field: str = "store") -> QuerySet[Any]:
        return qs if self.store_ids is None else qs.filter(**{f"{store_field}__in": self.store_ids})


def _start_of(day: date, merchant: Merchant) -> datetime:
    return datetime.combine(day, time.min, tzinfo=merchant.tz)


# --- the dashboard ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSales:
    store_id: int
    name: str
    sales: int
    amount: int


@dataclass(frozen=True)
class DashboardFigures:
    """A merchant's figures over a period of its days.

    Flows come from the reports' daily tables (plus the deltas not yet folded), gross: voided sales are
    taken out, refunds are not netted in. Points issued leave out the opening balances that member
    imports credited (`imported_points`, shown apart): they were earned before Tessera. Members count
    merchant-wide (a card works in every store, A2): *active* ones moved points or bought in the period
    (an expiry or an imported balance is not a visit), *new* ones registered in it. Balances are as of
    now."""

    currency: str
    first_day: date
    today: date
    members_active: int
    members_new: int
    points_issued: int
    points_spent: int
    points_expired: int
    imported_points: int
    points_outstanding: int
    stored_value_outstanding: int
    sales_count: int
    sales_amount: int
    top_stores: list[StoreSales]
    days: list[date] = field(default_factory=list)
    issued_by_day: list[int] = field(default_factory=list)
    spent_by_day: list[int] = field(default_factory=list)
    expired_by_day: list[int] = field(default_factory=list)
    sales_by_day: list[int] = field(default_factory=list)

    @property
    def last_day(self) -> date:
        return self.days[-1] if self.days else self.today


#: Entry kinds whose credits are points put into members' hands: earned, bonus, and additions by hand.
_ISSUED_KINDS = (EntryKind.EARN, EntryKind.BONUS, EntryKind.ADJUST)


#: The opening balances a member import credited (`imports.services`): adjustments, source "import:N".
_IMPORTED = Q(kind=EntryKind.ADJUST, source__startswith="import:")


def _daily(qs: QuerySet[Any], *, merchant: Merchant, value: Any) -> dict[date, int]:
    rows = (
        qs.annotate(day=TruncDate("occurred_at", tzinfo=merchant.tz))
        .values("day")
        .annotate(total=WideSum(value))
        .order_by()
    )
    return {row["day"]: int(row["total"] or 0) for row in rows}


def _outstanding(scope: Scope, kind: str) -> int:
    """What members hold of `kind`: all balances; for some stores, the net of what moved in them (J7)."""
    if scope.store_ids is None:
        accounts = Account.objects.of(scope.merchant).filter(kind=kind)
        return int(accounts.aggregate(total=WideSum("balance"))["total"] or 0)
    entries = scope.in_stores(Entry.objects.of(scope.merchant).filter(account__kind=kind))
    return int(entries.aggregate(total=WideSum("amount"))["total"] or 0)


def _active_members(merchant: Merchant, since: datetime, until: datetime) -> int:
    """Members who moved points (not an expiry, not an imported balance) or bought: one COUNT."""
    moved = (
        Entry.objects.of(merchant)
        .filter(occurred_at__gte=since, occurred_at__lt=until, account__member__isnull=False)
        .exclude(kind=EntryKind.EXPIRE)
        .exclude(_IMPORTED)
        .values("account__member_id")
    )
    bought = Transaction.objects.of(merchant).filter(
        status=TransactionStatus.CONFIRMED, occurred_at__gte=since, occurred_at__lt=until
    )
    return Member.objects.of(merchant).filter(Q(pk__in=moved) | Q(pk__in=bought.values("member_id"))).count()


def dashboard_figures(
    *, scope: Scope, start: date | None = None, end: date | None = None, now: datetime | None = None
) -> DashboardFigures:
    """The figures of start..end (the merchant's days; by default the last 7 days up to today)."""
    merchant = scope.merchant
    today = timezone.localtime(now or timezone.now(), merchant.tz).date()
    end = end or today
    start = start or end - timedelta(days=6)
    since, until = _start_of(start, merchant), _start_of(end + timedelta(days=1), merchant)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]

    report_scope = ReportScope(merchant, scope.store_ids)
    filters = Filters(start=start, end=end)
    with aggregates.snapshot():
        ledger = report_selectors.ledger_by(report_scope, filters, ["day", "kind"], AccountKind.POINTS)
        sales_rows = report_selectors.sales_by(report_scope, filters, ["day", "store_id"])
    # Imported balances have no store: a store-scoped user's ledger rows hold none, nor does this.
    imports = scope.in_stores(
        Entry.objects.of(merchant).filter(
            _IMPORTED,
            account__kind=AccountKind.POINTS,
            occurred_at__gte=since,
            occurred_at__lt=until,
        )
    )
    imported = _daily(imports, merchant=merchant, value="amount")

    def per_day(kinds: tuple[str, ...], measure: int) -> dict[date, int]:
        found: dict[date, int] = {}
        for (day, kind), values in ledger.items():
            if kind in kinds:
                found[day] = found.get(day, 0) + values[measure]
        return found

    issued = per_day(_ISSUED_KINDS, 0)
    for day, amount in imported.items():
        issued[day] = issued.get(day, 0) - amount
    spent = per_day((EntryKind.SPEND,), 1)
    expired = per_day((EntryKind.EXPIRE,), 1)
    # Days × stores of summed rows, not sales: adding them up here costs nothing.
    sales_by_day: dict[date, int] = {}
    per_store: dict[int, list[int]] = {}
    for (day, store_id), values in sales_rows.items():
        sales_by_day[day] = sales_by_day.get(day, 0) + values[1]
        counts = per_store.setdefault(store_id, [0, 0])
        counts[0] += values[0]
        counts[1] += values[1]

    stores = dict(scope.stores().values_list("pk", "name"))
    top = sorted(
        (
            StoreSales(store_id=store_id, name=stores.get(store_id, ""), sales=v[0], amount=v[1])
            for store_id, v in per_store.items()
            if v[0]
        ),
        key=lambda row: (-row.amount, row.name),
    )[:TOP_STORES]

    members = Member.objects.of(merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    return DashboardFigures(
        currency=merchant.currency,
        first_day=start,
        today=today,
        members_active=_active_members(merchant, since, until),
        members_new=members.filter(created_at__gte=since, created_at__lt=until).count(),
        points_issued=sum(issued.values()),
        points_spent=sum(spent.values()),
        points_expired=sum(expired.values()),
        imported_points=sum(imported.values()),
        points_outstanding=_outstanding(scope, AccountKind.POINTS),
        stored_value_outstanding=_outstanding(scope, AccountKind.STORED_VALUE),
        sales_count=sum(v[0] for v in per_store.values()),
        sales_amount=sum(sales_by_day.values()),
        top_stores=top,
        days=days,
        issued_by_day=[issued.get(day, 0) for day in days],
        spent_by_day=[spent.get(day, 0) for day in days],
        expired_by_day=[expired.get(day, 0) for day in days],
        sales_by_day=[sales_by_day.get(day, 0) for day in days],
    )


# --- the member 360 page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueAccount:
    """A stored-value account the member can pay with: their own, or a card family's."""

    label: str
    summary: AccountSummary


@dataclass(frozen=True)
class Member360:
    member: Member
    cards: list[Card]
    points: AccountSummary | None
    lots: list[Lot]
    stored_value: list[ValueAccount]
    transactions: list[Transaction]
    entries: Page[Entry] | None
    tier: TierStatus


def member_in_scope(*, scope: Scope, pk: int) -> Member | None:
    """One of the merchant's members (any store's staff sees every member: a card works everywhere, A2)."""
    return (
        Member.objects.of(scope.merchant)
        .filter(pk=pk)
        .select_related("home_store", "superseded_by")
        .prefetch_related("tags", "anniversaries")
        .first()
    )


def member_360(*, scope: Scope, member: Member, entries_page: int = 1) -> Member360:
    merchant = scope.merchant
    cards_qs = Card.objects.visible_to(scope.staff) if scope.staff else Card.objects.of(merchant)
    cards = list(
        cards_qs.filter(member=member)
        .select_related("type", "store", "parent")
        .order_by("-created_at", "-pk")
    )
    points_account = Account.objects.of(merchant).filter(member=member, kind=AccountKind.POINTS).first()
    value_accounts: list[ValueAccount] = []
    own = Account.objects.of(merchant).filter(member=member, kind=AccountKind.STORED_VALUE).first()
    if own is not None:
        value_accounts.append(ValueAccount(label=str(member), summary=account_summary(account=own)))
    seen = {own.pk} if own is not None else set()
    for card in cards:
        if card.account_id is not None and card.account_id not in seen and card.account is not None:
            seen.add(card.account_id)
            value_accounts.append(
                ValueAccount(label=card.number, summary=account_summary(account=card.account))
            )
    sales = Transaction.objects.visible_to(scope.staff) if scope.staff else Transaction.objects.of(merchant)
    return Member360(
        member=member,
        cards=cards,
        points=(
            account_summary(account=points_account, days=policy_of(merchant).notice_days)
            if points_account
            else None
        ),
        lots=list(lots_of(account=points_account)[:50]) if points_account else [],
        stored_value=value_accounts,
        transactions=list(
            sales.filter(member=member).select_related("store").order_by("-occurred_at", "-pk")[:20]
        ),
        entries=entries_of(
            merchant=merchant, member=member, staff=scope.staff, page=entries_page, per_page=20
        ),
        tier=tier_status(member),
    )


# --- the till -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TillLookup:
    """What the cashier's search found: one member (by card or phone) or a list of name matches."""

    member: Member | None = None
    card: Card | None = None
    matches: list[Member] = field(default_factory=list)
    stock_card: Card | None = None


def lookup_at_till(*, merchant: Merchant, query: str, limit: int = 10) -> TillLookup:
    """A card number (typed, or by a keyboard-wedge reader or QR scan), else a phone, else a name."""
    query = query.strip()
    if not query:
        return TillLookup()
    card = find_card(merchant=merchant, code=query)
    if card is not None:
        if card.member is None:
            return TillLookup(stock_card=card)
        return TillLookup(member=card.member, card=card)
    member = find_member_by_phone(merchant=merchant, phone=query)
    if member is not None:
        return TillLookup(member=member)
    found = (
        search_members(merchant=merchant, query=query)
        .filter(superseded_by__isnull=True, erased_at__isnull=True)
        .order_by("full_name", "pk")[:limit]
    )
    return TillLookup(matches=list(found))


@dataclass(frozen=True)
class RecentItem:
    name: str
    unit_price: int  # minor units, as last sold


#: Lines read to find the recent items: a day's worth at a busy counter.
RECENT_LINES = 300


def recent_items(*, scope: Scope, limit: int = 30) -> list[RecentItem]:
    """The items last sold in the staff member's stores, newest first, each once at its last price: the
    till's quick-pick (issue 14). One query over the newest lines, not over the merchant's history."""
    lines = scope.in_stores(
        TransactionLine.objects.filter(merchant=scope.merchant), store_field="transaction__store"
    ).order_by("-pk")
    found: dict[str, RecentItem] = {}
    for name, unit_price in lines.values_list("name", "unit_price")[:RECENT_LINES]:
        if name not in found:
            found[name] = RecentItem(name=name, unit_price=unit_price)
            if len(found) == limit:
                break
    return list(found.values())
