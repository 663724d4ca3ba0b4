"""The reports (J1–J5, J7, A3). Each takes a `ReportScope` (merchant, and the stores a store-scoped
staff member or store-bound API key may see) and `Filters`, and returns a `Report`: named tables that a
page shows, the API returns and the exports write, plus a chart where a picture helps.

Ledger- and sales-based figures come from the daily tables plus the deltas not yet folded, read in one
snapshot (aggregates.py); members, tier changes and card events are read directly, with their indexes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tessera.cards.models import CardEvent, CardEventKind, CardType
from tessera.core.exports import Column
from tessera.core.sums import WideSum
from tessera.ledger.models import AccountKind, EntryKind
from tessera.members.models import Member
from tessera.points.policy import policy_of
from tessera.reports import aggregates
from tessera.reports.models import (
    NONE,
    LedgerDay,
    LotFlowDay,
    MemberCount,
    MemberVisits,
    SaleDelta,
    SalesDay,
)
from tessera.sales.models import TopUp, Transaction, TransactionStatus
from tessera.tenancy.models import Merchant, StaffMembership, Store
from tessera.tiers.models import Tier, TierChange

# --- scope, filters, results --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """Whose figures: a merchant, and only some of its stores when `store_ids` is a tuple (B2)."""

    merchant: Merchant
    store_ids: tuple[int, ...] | None = None

    @classmethod
    def of_staff(cls, staff: StaffMembership) -> ReportScope:
        return cls(staff.merchant, None if staff.all_stores else tuple(staff.store_ids()))

    def stores(self) -> QuerySet[Store]:
        stores = Store.objects.of(self.merchant).order_by("name")
        return stores if self.store_ids is None else stores.filter(pk__in=self.store_ids)

    def today(self) -> date:
        return timezone.localtime(timezone.now(), self.merchant.tz).date()


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    #: Stores picked in the filter (within the scope); empty means every store in scope.
    store_ids: tuple[int, ...] = ()
    card_type_id: int | None = None
    #: The page of a long member list to read (the report page); None: the whole list (exports, API).
    page: int | str | None = None


#: Rows per page of a long member list (the customers report's birthdays).
LIST_PAGE_ROWS = 100


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    #: For a list read a page at a time, the page `rows` are (Django's Paginator page), else None.
    page: Page[Any] | None = None


@dataclass
class Report:
    key: str
    title: str
    tables: list[Table]
    #: Chart.js data for Unfold's chart components, or None.
    chart: dict[str, Any] | None = None
    chart_kind: str = "bar"
    notes: list[str] = field(default_factory=list)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def _stores_filter(scope: ReportScope, filters: Filters) -> tuple[int, ...] | None:
    """Store ids to keep, or None for all: the picked ones, within what the scope may see."""
    picked = set(filters.store_ids)
    if scope.store_ids is None:
        return tuple(sorted(picked)) if picked else None
    return tuple(sorted(picked & set(scope.store_ids))) if picked else scope.store_ids


def _store_names(merchant: Merchant) -> dict[int, str]:
    names = dict(Store.objects.of(merchant).values_list("pk", "name"))
    names[NONE] = str(gettext_lazy("No store"))
    return names


def _start_of(day: date, merchant: Merchant) -> datetime:
    return datetime.combine(day, time.min, tzinfo=merchant.tz)


def _days(filters: Filters) -> list[date]:
    return [filters.start + timedelta(days=n) for n in range((filters.end - filters.start).days + 1)]


def _bucket_days(filters: Filters) -> Callable[[date], date]:
    """Day for periods up to ~3 months, else month: a chart with 365 bars says less than 12."""
    if (filters.end - filters.start).days <= 92:
        return lambda d: d
    return lambda d: d.replace(day=1)


#: Bar colours of a chart's series, in order: the theme's primary, then amber.
_SERIES_COLOURS = ("var(--color-primary-600)", "#f59e0b")


def _bar_chart(labels: list[Any], *series: tuple[Any, list[Any]]) -> dict[str, Any]:
    """The Chart.js data of a bar chart: one dataset per (label, values) series."""
    return {
        "labels": labels,
        "datasets": [
            {"label": label, "data": data, "backgroundColor": _SERIES_COLOURS[i % len(_SERIES_COLOURS)]}
            for i, (label, data) in enumerate(series)
        ],
    }


def _chart_labels(buckets: list[date], filters: Filters) -> list[str]:
    fmt = "MONTH_DAY_FORMAT" if (filters.end - filters.start).days <= 92 else "YEAR_MONTH_FORMAT"
    return [date_format(b, fmt) for b in buckets]


def _in(qs: QuerySet[Any], field_name: str, ids: tuple[int, ...] | None) -> QuerySet[Any]:
    return qs if ids is None else qs.filter(**{f"{field_name}__in": ids})


def _merge(*parts: dict[Any, list[int]]) -> dict[Any, list[int]]:
    total: dict[Any, list[int]] = {}
    for part in parts:
        for key, values in part.items():
            if key in total:
                total[key] = [a + b for a, b in zip(total[key], values, strict=True)]
            else:
                total[key] = list(values)
    return total


# --- J1 transactions ----------------------------------------------------------------------------------

_SALES_MEASURES = ("sales", "amount", "discount", "refunds", "refunded")
#: Members by number of visits (confirmed sales) in the period.
FREQUENCY_BANDS: list[tuple[int, int | None]] = [(1, 1), (2, 3), (4, 10), (11, None)]
#: Up to this many days (today, the last 7 days) the frequency is counted from the sales quickly enough.
_QUICK_FREQUENCY_DAYS = 7


def sales_by(scope: ReportScope, filters: Filters, dims: Sequence[str]) -> dict[tuple[Any, ...], list[int]]:
    stores = _stores_filter(scope, filters)
    result: list[dict[tuple[Any, ...], list[int]]] = []
    for model in (SalesDay, SaleDelta):
        qs = model.objects.filter(merchant=scope.merchant, day__gte=filters.start, day__lte=filters.end)
        qs = _in(qs, "store_id", stores)
        if filters.card_type_id is not None:
            qs = qs.filter(card_type_id=filters.card_type_id)
        rows = qs.values(*dims).annotate(**{m: WideSum(m) for m in _SALES_MEASURES}).order_by()
        result.append({tuple(r[d] for d in dims): [int(r[m] or 0) for m in _SALES_MEASURES] for r in rows})
    return _merge(*result)


def sales_report(scope: ReportScope, filters: Filters) -> Report:
    """J1: confirmed sales (voided ones taken out) and refunds by store, card type, customer type (the
    member's tier before the sale) and day; and members by how often they bought in the period."""
    money_cols = [
        Column(_("Sales"), "int"),
        Column(_("Sales amount"), "money"),
        Column(_("Discount"), "money"),
        Column(_("Refunds"), "int"),
        Column(_("Refunded amount"), "money"),
        Column(_("Net sales"), "money"),
    ]

    def line(label: Any, v: list[int]) -> tuple[Any, ...]:
        sales, amount, discount, refunds, refunded = v
        return (label, sales, amount, discount, refunds, refunded, amount - refunded)

    with aggregates.snapshot():
        by_store = sales_by(scope, filters, ["store_id"])
        by_card = sales_by(scope, filters, ["card_type_id"])
        by_tier = sales_by(scope, filters, ["tier_id"])
        by_day = sales_by(scope, filters, ["day"])
        detail = sales_by(scope, filters, ["day", "store_id", "card_type_id", "tier_id"])
        frequency, pre_counted = _frequency(scope, filters)
    stores = _store_names(scope.merchant)
    card_types = dict(CardType.objects.of(scope.merchant).values_list("pk", "name"))
    card_types[NONE] = _("No card")
    tiers = dict(Tier.objects.of(scope.merchant).values_list("pk", "name"))
    tiers[NONE] = _("No tier")
    total = _merge(*({("all",): v} for v in by_store.values())).get(("all",), [0] * 5)

    def table(
        key: str, title: str, first: str, data: dict[tuple[Any, ...], list[int]], names: dict[int, str]
    ) -> Table:
        rows = [
            line(names.get(k[0], str(k[0])), v) for k, v in sorted(data.items(), key=lambda kv: -kv[1][1])
        ]
        rows.append(line(_("Total"), total))
        return Table(key, title, [Column(first), *money_cols], rows)

    daily_rows = [line(day, by_day.get((day,), [0] * 5)) for day in _days(filters)]
    detail_rows = [
        (
            day,
            stores.get(store, str(store)),
            card_types.get(card, str(card)),
            tiers.get(tier, str(tier)),
            *line("", v)[1:],
        )
        for (day, store, card, tier), v in sorted(
            detail.items(), key=lambda kv: (kv[0][0], stores.get(kv[0][1], ""))
        )
    ]
    bucket = _bucket_days(filters)
    buckets = sorted({bucket(d) for d in _days(filters)})
    per_bucket: dict[date, int] = defaultdict(int)
    for (day,), v in by_day.items():
        per_bucket[bucket(day)] += v[1] - v[4]
    unit = _major_unit(scope.merchant)
    chart = _bar_chart(
        _chart_labels(buckets, filters),
        (
            _("Net sales (%(currency)s)") % {"currency": scope.merchant.currency},
            [per_bucket[b] // unit for b in buckets],
        ),
    )
    return Report(
        key="sales",
        title=str(REPORTS["sales"].title),
        tables=[
            table("stores", _("By store"), _("Store"), by_store, stores),
            table("card_types", _("By card type"), _("Card type"), by_card, card_types),
            table("customer_types", _("By customer type (tier)"), _("Tier"), by_tier, tiers),
            Table(
                "frequency",
                _("Shopping frequency"),
                [Column(_("Visits in the period")), Column(_("Members"), "int"), Column(_("Sales"), "int")],
                frequency,
            ),
            Table("days", _("By day"), [Column(_("Day"), "date"), *money_cols], daily_rows),
            Table(
                "detail",
                _("By day, store, card type and tier"),
                [
                    Column(_("Day"), "date"),
                    Column(_("Store")),
                    Column(_("Card type")),
                    Column(_("Tier")),
                    *money_cols,
                ],
                detail_rows,
            ),
        ],
        chart=chart,
        notes=[
            _(
                "A voided sale does not count. A refund counts on the day and in the store where the goods "
                "came back. Customer type is the member's tier just before the sale."
            ),
            *(
                []
                if pre_counted or (filters.end - filters.start).days < _QUICK_FREQUENCY_DAYS
                else [
                    _(
                        "The shopping frequency of a period that is not whole calendar months is counted "
                        "from the sales themselves: over many days the report takes longer."
                    )
                ]
            ),
        ],
    )


def _major_unit(merchant: Merchant) -> int:
    from tessera.core.money import minor_digits

    return int(10 ** minor_digits(merchant.currency))


def _frequency(scope: ReportScope, filters: Filters) -> tuple[list[tuple[Any, ...]], bool]:
    """Members by number of confirmed sales in the period, and whether that was read from the month
    rows (`MemberVisits`: a period of whole calendar months, or a month so far) rather than counted from
    the sales (a day range: quick for a few days, slower for long ranges)."""
    stores = _stores_filter(scope, filters)
    pre_counted = _whole_months(scope.merchant, filters)
    if pre_counted:
        visits = MemberVisits.objects.filter(
            merchant=scope.merchant, month__gte=filters.start, month__lte=filters.end
        )
        if filters.card_type_id is not None:
            visits = visits.filter(card_type_id=filters.card_type_id)
        per_member = (
            _in(visits, "store_id", stores)
            .values("member_id")
            # An integer sum (a month's visits fit in 32 bits), not WideSum's numeric: at 400,000 members
            # a month the numeric sums took most of the grouping's time and memory (issue 16).
            .annotate(n=Sum(Cast("visits", IntegerField())))
            .filter(n__gt=0)
            .order_by()
        )
    else:
        sales = _confirmed_sales(scope.merchant, filters.start, filters.end + timedelta(days=1))
        sales = _in(sales, "store_id", stores)
        if filters.card_type_id is not None:
            sales = sales.filter(card__type_id=filters.card_type_id)
        per_member = sales.values("member_id").annotate(n=Count("pk")).order_by()
    per_n = _members_per_visit_count(per_member)
    rows: list[tuple[Any, ...]] = []
    for low, high in FREQUENCY_BANDS:
        members = sum(m for n, m in per_n.items() if n >= low and (high is None or n <= high))
        sales_n = sum(n * m for n, m in per_n.items() if n >= low and (high is None or n <= high))
        label = str(low) if low == high else (f"{low}–{high}" if high is not None else f"> {low - 1}")
        rows.append((label, members, sales_n))
    return rows, pre_counted


def _confirmed_sales(merchant: Merchant, start: date, end: date) -> QuerySet[Transaction]:
    """Confirmed sales from the start of day `start` to the start of day `end` (the merchant's days)."""
    return Transaction.objects.filter(
        merchant=merchant,
        status=TransactionStatus.CONFIRMED,
        occurred_at__gte=_start_of(start, merchant),
        occurred_at__lt=_start_of(end, merchant),
    )


def _whole_months(merchant: Merchant, filters: Filters) -> bool:
    """Whether the period is whole calendar months, so the month rows count exactly its sales: it starts
    on a 1st and ends on a month's last day, or ends earlier in its month with no sale recorded after it
    in that month (this month so far; one probe of the sales index)."""
    if filters.start.day != 1:
        return False
    next_month = (filters.end.replace(day=1) + timedelta(days=31)).replace(day=1)
    after_end = filters.end + timedelta(days=1)
    return after_end == next_month or not _confirmed_sales(merchant, after_end, next_month).exists()


#: PostgreSQL's memory for grouping the members of a period by visit count (the query's own, `SET
#: LOCAL`): a month of a merchant with 1,000,000 members is ~400,000 groups, ~45 MB. With the server's
#: default (4 MB) the grouping sorted on disk: the 'last month' preset took 0.93 s at 10,000,000 sales,
#: 0.26 s with this (docs/performance.md, issue 16).
FREQUENCY_WORK_MEM = "64MB"


def _members_per_visit_count(visits: QuerySet[Any]) -> dict[int, int]:
    """n → how many members made n visits: grouped twice in the database, so a million members come
    back as a few dozen rows."""
    try:
        sql, params = visits.query.sql_with_params()
    except EmptyResultSet:  # e.g. stores asked for that the user may not see: nobody visited
        return {}
    postgres = connection.vendor == "postgresql"
    # A transaction only for SET LOCAL: on SQLite it would take the write lock (BEGIN IMMEDIATE).
    with transaction.atomic() if postgres else nullcontext(), connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"SET LOCAL work_mem = '{FREQUENCY_WORK_MEM}'")
        cursor.execute(f"SELECT n, COUNT(*) FROM ({sql}) visits GROUP BY n", params)  # noqa: S608
        return {int(n): int(members) for n, members in cursor.fetchall()}


# --- J2 customers -------------------------------------------------------------------------------------

AGE_BANDS: list[tuple[int, int | None]] = [
    (0, 17),
    (18, 24),
    (25, 34),
    (35, 44),
    (45, 54),
    (55, 64),
    (65, None),
]
_TOP = 20


def _members(scope: ReportScope, filters: Filters) -> QuerySet[Member]:
    """Current members; for store-scoped staff or a store filter, those whose home store is in it."""
    members = Member.objects.of(scope.merchant).filter(superseded_by__isnull=True, erased_at__isnull=True)
    return _in(members, "home_store_id", _stores_filter(scope, filters))


def crm_report(scope: ReportScope, filters: Filters) -> Report:
    """J2: birthdays in the month of the period's end (a page at a time on the report page), members by age
    band, region and occupation (from the maintained counts, `MemberCount`)."""
    members = _members(scope, filters)
    birthdays = (
        members.filter(birthday__month=filters.end.month)
        .order_by("birthday__month", "birthday__day", "full_name", "pk")
        .values_list("full_name", "phone", "birthday", "region", "home_store__name")
    )
    page = None if filters.page is None else Paginator(birthdays, LIST_PAGE_ROWS).get_page(filters.page)
    listed = birthdays if page is None else page.object_list
    birthday_rows = [(n, str(p), b, r, s or "") for n, p, b, r, s in listed]
    counts = MemberCount.objects.filter(merchant=scope.merchant, members__gt=0)
    counts = _in(counts, "home_store_id", _stores_filter(scope, filters))

    def counted(dimension: str) -> QuerySet[Any]:
        return counts.filter(dimension=dimension).values("value").annotate(n=WideSum("members")).order_by()

    today = scope.today()
    bands = {}
    for low, high in AGE_BANDS:
        # Born on or before today minus `low` years, and after today minus `high + 1` years: ISO dates
        # compare as text ("" is an unknown birthday).
        condition = Q(value__gt="", value__lte=_years_before(today, low).isoformat())
        if high is not None:
            condition &= Q(value__gt=_years_before(today, high + 1).isoformat())
        bands[f"{low}–{high}" if high is not None else f"{low}+"] = WideSum("members", filter=condition)
    bands["unknown"] = WideSum("members", filter=Q(value=""))
    per_band = counts.filter(dimension=MemberCount.Dimension.BIRTHDAY).aggregate(**bands)
    age_rows = [(label if label != "unknown" else _("Unknown"), int(n or 0)) for label, n in per_band.items()]
    total = sum(n for _l, n in age_rows)

    def top(dimension: str) -> list[tuple[Any, ...]]:
        rows = counted(dimension).order_by("-n", "value")
        result = [(r["value"] or _("Not given"), int(r["n"])) for r in rows[:_TOP]]
        rest = total - sum(n for _l, n in result)
        if rest > 0:
            result.append((_("Others"), rest))
        return result

    def with_share(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [(*row, Decimal(row[1] * 100) / total if total else Decimal(0)) for row in rows]

    share = [Column(_("Members"), "int"), Column(_("Share"), "percent")]
    return Report(
        key="crm",
        title=str(REPORTS["crm"].title),
        tables=[
            Table(
                "birthdays",
                _("Birthdays in %(month)s") % {"month": date_format(filters.end, "YEAR_MONTH_FORMAT")},
                [
                    Column(_("Name")),
                    Column(_("Phone")),
                    Column(_("Birthday"), "date"),
                    Column(_("Region")),
                    Column(_("Home store")),
                ],
                birthday_rows,
                page=page,
            ),
            Table("age_bands", _("By age band"), [Column(_("Age")), *share], with_share(age_rows)),
            Table("regions", _("By region"), [Column(_("Region")), *share], with_share(top("region"))),
            Table(
                "occupations",
                _("By occupation"),
                [Column(_("Occupation")), *share],
                with_share(top("occupation")),
            ),
        ],
        chart=_bar_chart([str(label) for label, _n in age_rows], (_("Members"), [n for _l, n in age_rows])),
        notes=[
            _(
                "Ages are as of today, in the merchant's time zone. Birthdays are those of the month "
                "of the period's last day."
            )
        ],
    )


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# --- J3 tier movement ---------------------------------------------------------------------------------


def tier_report(scope: ReportScope, filters: Filters) -> Report:
    """J3: upgrades and downgrades per month and per tier reached, from the tier change history."""
    changes: QuerySet[TierChange] = TierChange.objects.of(scope.merchant).filter(
        at__gte=_start_of(filters.start, scope.merchant),
        at__lt=_start_of(filters.end + timedelta(days=1), scope.merchant),
    )
    changes = _in(changes, "member__home_store_id", _stores_filter(scope, filters))
    per_month: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    per_tier: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for at, from_rank, to_rank, to_tier in changes.values_list(
        "at", "from_tier__rank", "to_tier__rank", "to_tier_id"
    ):
        month = timezone.localtime(at, scope.merchant.tz).date().replace(day=1)
        up = (to_rank or 0) > (from_rank or 0)
        per_month[month][0 if up else 1] += 1
        per_tier[(month, to_tier or NONE)][0 if up else 1] += 1
    months = sorted({d.replace(day=1) for d in _days(filters)})
    tiers = dict(Tier.objects.of(scope.merchant).values_list("pk", "name"))
    tiers[NONE] = _("No tier")
    labels = [date_format(m, "YEAR_MONTH_FORMAT") for m in months]
    return Report(
        key="tiers",
        title=str(REPORTS["tiers"].title),
        tables=[
            Table(
                "months",
                _("By month"),
                [Column(_("Month")), Column(_("Upgrades"), "int"), Column(_("Downgrades"), "int")],
                [(label, *per_month[m]) for label, m in zip(labels, months, strict=True)],
            ),
            Table(
                "tiers",
                _("By month and tier reached"),
                [
                    Column(_("Month")),
                    Column(_("Tier reached")),
                    Column(_("Upgrades"), "int"),
                    Column(_("Downgrades"), "int"),
                ],
                [
                    (date_format(m, "YEAR_MONTH_FORMAT"), tiers.get(t, str(t)), *v)
                    for (m, t), v in sorted(
                        per_tier.items(), key=lambda kv: (kv[0][0], tiers.get(kv[0][1], ""))
                    )
                ],
            ),
        ],
        chart=_bar_chart(
            labels,
            (_("Upgrades"), [per_month[m][0] for m in months]),
            (_("Downgrades"), [per_month[m][1] for m in months]),
        ),
    )


# --- J4 card operations -------------------------------------------------------------------------------

#: The operations of the daily audit (J4), and the card events each counts.
CARD_OPERATIONS: list[tuple[str, Promise, tuple[str, ...]]] = [
    (
        "issue",
        gettext_lazy("Issued"),
        (CardEventKind.SOLD, CardEventKind.CONFIRMED, CardEventKind.ACTIVATED, CardEventKind.SUB_CARD_ISSUED),
    ),
    ("loss", gettext_lazy("Reported lost"), (CardEventKind.LOST,)),
    ("loss_cancelled", gettext_lazy("Loss cancelled"), (CardEventKind.LOSS_CANCELLED,)),
    ("replacement", gettext_lazy("Replaced"), (CardEventKind.REPLACED,)),
    ("recycle", gettext_lazy("Recycled"), (CardEventKind.RECYCLED,)),
]
_DETAIL_LIMIT = 2000


def card_audit_report(scope: ReportScope, filters: Filters) -> Report:
    """J4: card operations (issue, top-up, loss, replacement, recycle) per day and store, and the trail."""
    merchant = scope.merchant
    stores_in = _stores_filter(scope, filters)
    since = _start_of(filters.start, merchant)
    until = _start_of(filters.end + timedelta(days=1), merchant)
    operation_of = {kind: key for key, _label, kinds in CARD_OPERATIONS for kind in kinds}
    events = _in(
        CardEvent.objects.of(merchant).filter(at__gte=since, at__lt=until, kind__in=list(operation_of)),
        "store_id",
        stores_in,
    )
    top_ups = _in(
        TopUp.objects.of(merchant).filter(created_at__gte=since, created_at__lt=until), "store_id", stores_in
    )
    keys = [key for key, _l, _k in CARD_OPERATIONS]
    per_day: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0] * (len(keys) + 2))
    trail: list[tuple[Any, ...]] = []
    names = _store_names(merchant)
    labels = {kind.value: kind.label for kind in CardEventKind}
    for at, kind, store, number, actor, note in events.order_by("at", "pk").values_list(
        "at", "kind", "store_id", "card__number", "actor__username", "note"
    ):
        day = timezone.localtime(at, merchant.tz).date()
        per_day[(day, store or NONE)][keys.index(operation_of[kind])] += 1
        trail.append(
            (at, names.get(store or NONE, ""), number, str(labels.get(kind, kind)), None, actor or "", note)
        )
    for at, store, number, amount, actor in top_ups.order_by("created_at", "pk").values_list(
        "created_at", "store_id", "card__number", "amount", "created_by__username"
    ):
        day = timezone.localtime(at, merchant.tz).date()
        per_day[(day, store)][len(keys)] += 1
        per_day[(day, store)][len(keys) + 1] += amount
        trail.append((at, names.get(store, ""), number, _("Top-up"), amount, actor or "", ""))
    trail.sort(key=lambda row: row[0])
    op_columns = [Column(str(label), "int") for _k, label, _kinds in CARD_OPERATIONS]
    summary = [
        (day, names.get(store, str(store)), *values)
        for (day, store), values in sorted(
            per_day.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], ""))
        )
    ]
    totals = [sum(v[i] for v in per_day.values()) for i in range(len(keys) + 2)]
    summary.append((None, _("Total"), *totals))
    notes = [_("Days are the merchant's calendar days.")]
    if len(trail) > _DETAIL_LIMIT:
        notes.append(
            _("The page shows the first %(n)s operations; the export has them all.") % {"n": _DETAIL_LIMIT}
        )
    return Report(
        key="card_audit",
        title=str(REPORTS["card_audit"].title),
        tables=[
            Table(
                "days",
                _("By day and store"),
                [
                    Column(_("Day"), "date"),
                    Column(_("Store")),
                    *op_columns,
                    Column(_("Top-ups"), "int"),
                    Column(_("Topped up"), "money"),
                ],
                summary,
            ),
            Table(
                "operations",
                _("Operations"),
                [
                    Column(_("At"), "datetime"),
                    Column(_("Store")),
                    Column(_("Card")),
                    Column(_("Operation")),
                    Column(_("Amount"), "money"),
                    Column(_("By")),
                    Column(_("Note")),
                ],
                trail,
            ),
        ],
        chart=_bar_chart(
            [str(label) for _k, label, _kinds in CARD_OPERATIONS] + [_("Top-ups")],
            (_("Operations"), totals[: len(keys) + 1]),
        ),
        notes=notes,
    )


# --- J5 staff daily -----------------------------------------------------------------------------------


def ledger_by(
    scope: ReportScope, filters: Filters, dims: Sequence[str], account_kind: str
) -> dict[tuple[Any, ...], list[int]]:
    """credit, debit, entries per `dims` from LedgerDay plus the waiting entry deltas."""
    stores = _stores_filter(scope, filters)
    qs = LedgerDay.objects.filter(
        merchant=scope.merchant, account_kind=account_kind, day__gte=filters.start, day__lte=filters.end
    )
    qs = _in(qs, "store_id", stores)
    rows = qs.values(*dims).annotate(c=WideSum("credit"), d=WideSum("debit"), n=WideSum("entries")).order_by()
    folded = {tuple(r[d] for d in dims): [int(r["c"]), int(r["d"]), int(r["n"])] for r in rows}
    pending: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in aggregates.pending_entry_rows(scope.merchant, filters.start, filters.end):
        if r.account_kind != account_kind or (stores is not None and r.store_id not in stores):
            continue
        p = pending[tuple(getattr(r, d) for d in dims)]
        p[0 if r.amount > 0 else 1] += abs(r.amount)
        p[2] += 1
    return _merge(folded, dict(pending))


def staff_report(scope: ReportScope, filters: Filters) -> Report:
    """J5: per staff user and day, the points they added and deducted (every entry they wrote)."""
    with aggregates.snapshot():
        data = ledger_by(scope, filters, ["day", "actor_id"], AccountKind.POINTS)
    users = {
        u.pk: (u.get_full_name() or u.username)
        for u in get_user_model().objects.filter(pk__in={k[1] for k in data if k[1]})
    }
    users[NONE] = _("System and POS")
    rows = [
        (day, users.get(actor, str(actor)), v[0], v[1], v[2])
        for (day, actor), v in sorted(data.items(), key=lambda kv: (kv[0][0], users.get(kv[0][1], "")))
    ]
    per_user: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_day, actor), v in data.items():
        per_user[actor] = [a + b for a, b in zip(per_user[actor], v, strict=True)]
    order = sorted(per_user, key=lambda a: users.get(a, ""))
    columns = [
        Column(_("Points added"), "points"),
        Column(_("Points deducted"), "points"),
        Column(_("Operations"), "int"),
    ]
    return Report(
        key="staff",
        title=str(REPORTS["staff"].title),
        tables=[
            Table(
                "days", _("By day and user"), [Column(_("Day"), "date"), Column(_("User")), *columns], rows
            ),
            Table(
                "users",
                _("By user"),
                [Column(_("User")), *columns],
                [(users.get(a, str(a)), *per_user[a]) for a in order],
            ),
        ],
        chart=_bar_chart(
            [users.get(a, str(a)) for a in order],
            (_("Points added"), [per_user[a][0] for a in order]),
            (_("Points deducted"), [per_user[a][1] for a in order]),
        ),
        notes=[
            _("Points moved by the POS, the API and scheduled jobs (expiry) count under “System and POS”.")
        ],
    )


# --- lot flows: J7 and A3 -----------------------------------------------------------------------------


_FLOW_FIELDS = (
    "merchant_id",
    "day",
    "account_kind",
    "origin_store_id",
    "use_store_id",
    "kind",
    "reversed_kind",
)


def _flows(
    scope: ReportScope,
    start: date | None,
    end: date,
    dims: Sequence[str],
    where: Q,
    keep: Callable[[dict[str, Any]], bool],
) -> dict[tuple[Any, ...], int]:
    """Sums of lot flows per `dims`: LotFlowDay rows matching `where`, plus the waiting entries' flows
    that `keep` (the same condition, in Python) accepts."""
    qs = LotFlowDay.objects.filter(where, merchant=scope.merchant, day__lte=end)
    if start is not None:
        qs = qs.filter(day__gte=start)
    folded = {
        tuple(r[d] for d in dims): int(r["a"])
        for r in qs.values(*dims).annotate(a=WideSum("amount")).order_by()
    }
    pending_rows = aggregates.pending_entry_rows(scope.merchant, start or date.min, end)
    result: dict[tuple[Any, ...], int] = defaultdict(int, folded)
    for key, amount in aggregates.flow_sums(pending_rows).items():
        row = dict(zip(_FLOW_FIELDS, key, strict=True))
        if keep(row):
            result[tuple(row[d] for d in dims)] += amount
    return dict(result)


def liability_report(scope: ReportScope, filters: Filters) -> Report:
    """J7: points and stored value outstanding at the end of the period's last day, per store that issued
    them, and the total; with what was issued and used up in the period."""
    stores_in = _stores_filter(scope, filters)
    where = Q(origin_store_id__in=stores_in) if stores_in is not None else Q()

    def keep(row: dict[str, Any]) -> bool:
        return stores_in is None or row["origin_store_id"] in stores_in

    with aggregates.snapshot():
        outstanding = _flows(scope, None, filters.end, ["origin_store_id", "account_kind"], where, keep)
        moved = _flows(
            scope, filters.start, filters.end, ["origin_store_id", "account_kind", "kind"], where, keep
        )
    names = _store_names(scope.merchant)
    issued: dict[tuple[int, str], int] = defaultdict(int)
    used: dict[tuple[int, str], int] = defaultdict(int)
    for (store, kind, _entry_kind), amount in moved.items():
        (issued if amount > 0 else used)[(store, kind)] += abs(amount)
    store_ids = sorted(
        {k[0] for k in outstanding} | {k[0] for k in issued} | {k[0] for k in used},
        key=lambda s: names.get(s, ""),
    )
    pts, sv = AccountKind.POINTS, AccountKind.STORED_VALUE
    rows: list[tuple[Any, ...]] = []
    for store in store_ids:
        rows.append(
            (
                names.get(store, str(store)),
                issued[(store, pts)],
                used[(store, pts)],
                outstanding.get((store, pts), 0),
                issued[(store, sv)],
                used[(store, sv)],
                outstanding.get((store, sv), 0),
            )
        )
    totals = tuple(sum(r[i] for r in rows) for i in range(1, 7))
    rows.append((_("Total"), *totals))
    return Report(
        key="liability",
        title=str(REPORTS["liability"].title),
        tables=[
            Table(
                "stores",
                _("By issuing store"),
                [
                    Column(_("Store")),
                    Column(_("Points issued in the period"), "points"),
                    Column(_("Points used or expired in the period"), "points"),
                    Column(_("Points outstanding"), "points"),
                    Column(_("Stored value sold in the period"), "money"),
                    Column(_("Stored value used in the period"), "money"),
                    Column(_("Stored value outstanding"), "money"),
                ],
                rows,
            )
        ],
        chart=_bar_chart(
            [names.get(s, str(s)) for s in store_ids],
            (_("Points outstanding"), [outstanding.get((s, pts), 0) for s in store_ids]),
        ),
        notes=[
            _(
                "Outstanding is what members hold at the end of %(day)s, counted in the store where it was "
                "issued. Value moved to a new card by a replacement counts under “No store”."
            )
            % {"day": date_format(filters.end, "SHORT_DATE_FORMAT")}
        ],
    )


@dataclass(frozen=True)
class Settlement:
    debtor_id: int
    creditor_id: int
    points: int
    stored_value: int
    amount: int


def point_value(merchant: Merchant) -> Decimal | None:
    value = policy_of(merchant).point_value
    return value if value else None


def settlement_report(scope: ReportScope, filters: Filters) -> Report:
    """A3: value issued in store X and spent in store Y in the period (spends less the refunds of spends),
    per pair; X owes Y for it: X took the money (stored value sold) or gave the points, Y gave the goods.
    Netted per pair; points valued at the merchant's point value."""
    consumed = Q(kind=EntryKind.SPEND) | Q(kind=EntryKind.REVERSAL, reversed_kind=EntryKind.SPEND)

    def keep(row: dict[str, Any]) -> bool:
        return row["kind"] == EntryKind.SPEND or (
            row["kind"] == EntryKind.REVERSAL and row["reversed_kind"] == EntryKind.SPEND
        )

    dims = ["origin_store_id", "use_store_id", "account_kind"]
    with aggregates.snapshot():
        flows = _flows(scope, filters.start, filters.end, dims, consumed, keep)
    stores_in = _stores_filter(scope, filters)
    spent: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for (origin, use, kind), amount in flows.items():
        if NONE in (origin, use) or origin == use:
            continue
        if stores_in is not None and origin not in stores_in and use not in stores_in:
            continue
        spent[(origin, use)][0 if kind == AccountKind.POINTS else 1] -= amount
    value = point_value(scope.merchant)

    def money(points: int, stored: int) -> int:
        worth = (
            int((Decimal(points) * value).to_integral_value(rounding=ROUND_FLOOR)) if value is not None else 0
        )
        return stored + worth

    names = _store_names(scope.merchant)
    matrix = [
        (names.get(o, str(o)), names.get(u, str(u)), p, s, money(p, s))
        for (o, u), (p, s) in sorted(
            spent.items(), key=lambda kv: (names.get(kv[0][0], ""), names.get(kv[0][1], ""))
        )
    ]
    lines: list[Settlement] = []
    for a, b in sorted({tuple(sorted(k)) for k in spent}):
        ab, ba = spent.get((a, b), [0, 0]), spent.get((b, a), [0, 0])
        net = money(*ab) - money(*ba)
        points, stored = ab[0] - ba[0], ab[1] - ba[1]
        if net < 0 or (net == 0 and (points, stored) < (0, 0)):
            a, b, net, points, stored = b, a, -net, -points, -stored
        if net or points or stored:
            lines.append(Settlement(a, b, points, stored, net))
    notes = (
        [_("Points are valued at %(value)s per point.") % {"value": value}]
        if value is not None
        else [_("The merchant has no point value: points are shown in points and not added to the amounts.")]
    )
    return Report(
        key="settlement",
        title=str(REPORTS["settlement"].title),
        tables=[
            Table(
                "net",
                _("Who owes whom"),
                [
                    Column(_("Store that owes")),
                    Column(_("Store owed")),
                    Column(_("Points (net)"), "points"),
                    Column(_("Stored value (net)"), "money"),
                    Column(_("Amount owed"), "money"),
                ],
                [
                    (
                        names.get(s.debtor_id, ""),
                        names.get(s.creditor_id, ""),
                        s.points,
                        s.stored_value,
                        s.amount,
                    )
                    for s in lines
                ],
            ),
            Table(
                "matrix",
                _("Issued in one store, spent in another"),
                [
                    Column(_("Issued in")),
                    Column(_("Spent in")),
                    Column(_("Points"), "points"),
                    Column(_("Stored value"), "money"),
                    Column(_("Value"), "money"),
                ],
                matrix,
            ),
        ],
        chart=None,
        notes=[
            *notes,
            _(
                "The store that issued value owes the store where it was spent: it took the money for the "
                "stored value, or gave the points, and the other store gave the goods."
            ),
        ],
    )


# --- the catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSpec:
    key: str
    title: Promise
    description: Promise
    permission: str
    build: Callable[[ReportScope, Filters], Report]
    #: Filters the page offers beyond the period and stores.
    card_type_filter: bool = False


REPORTS: dict[str, ReportSpec] = {
    spec.key: spec
    for spec in [
        ReportSpec(
            "sales",
            gettext_lazy("Transactions"),
            gettext_lazy("Sales by store, card type, customer type and day; how often members buy."),
            "reports.view_sales_report",
            sales_report,
            card_type_filter=True,
        ),
        ReportSpec(
            "crm",
            gettext_lazy("Customers"),
            gettext_lazy("Birthdays this month; members by age band, region and occupation."),
            "reports.view_crm_report",
            crm_report,
        ),
        ReportSpec(
            "tiers",
            gettext_lazy("Tier movement"),
            gettext_lazy("Upgrades and downgrades per month."),
            "reports.view_tier_report",
            tier_report,
        ),
        ReportSpec(
            "card_audit",
            gettext_lazy("Card operations"),
            gettext_lazy("Daily audit of issues, top-ups, losses, replacements and recycled cards."),
            "reports.view_card_audit_report",
            card_audit_report,
        ),
        ReportSpec(
            "staff",
            gettext_lazy("Staff daily report"),
            gettext_lazy("Points added and deducted per user and day."),
            "reports.view_staff_report",
            staff_report,
        ),
        ReportSpec(
            "liability",
            gettext_lazy("Liability"),
            gettext_lazy("Points and stored value outstanding per issuing store and in total."),
            "reports.view_liability_report",
            liability_report,
        ),
        ReportSpec(
            "settlement",
            gettext_lazy("Inter-store settlement"),
            gettext_lazy("Value issued in one store and spent in another: who owes whom."),
            "reports.view_settlement_report",
            settlement_report,
        ),
    ]
}
