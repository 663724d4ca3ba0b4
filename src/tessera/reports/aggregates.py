"""Keeping the reports' daily tables (see models.py): the compaction that folds the deltas, the rebuild
from the raw tables, and the snapshot reads that add both together.

The ledger and the sales never call the reports: the deltas are written by database triggers the
reports own (`tessera.reports.triggers`), in the statement that writes the entry, the sale or the
refund, so a delta commits or rolls back with the write that caused it, at no extra round trip.

Where things land:
- a ledger entry on the local day of its `occurred_at` in its store's time zone (the merchant's when it
  has no store), in its store; a reversal (void, refund) is an entry of its own, so it lands on *its*
  day and store, with `reversed_kind` saying what it reverses;
- a sale on the local day of its `occurred_at` in its store; voiding a confirmed sale takes it out of
  that same day (a voided sale never counts); a refund lands on the refund's day, in the refund's store;
- a sale's customer type is the member's tier just before the sale was confirmed (the last tier change
  strictly before `confirmed_at`), so the upgrade the sale itself causes does not count for it.

Lot flows: a credit (earn, bonus, top-up, positive adjust, transfer in) opens lots worth its amount,
issued by its store. Every other entry moves value in existing lots, as its `LotUse` rows say; each move
is attributed to the store that issued the lot (the store of the lot's entry) and to the entry's store.
Value moved by a card replacement opens lots of the transfer entry, which has no store: from then on it
counts under "no store".
"""

# The SQL here is built from model table and column names only; every value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncMonth

from tessera.cards.models import Card
from tessera.ledger.models import Account, Entry, EntryKind, Lot, LotUse
from tessera.members.models import Member
from tessera.reports.models import (
    NONE,
    EntryDelta,
    LedgerDay,
    LotFlowDay,
    MemberCount,
    MemberVisits,
    SaleDelta,
    SalesDay,
)
from tessera.sales.models import Refund, Transaction, TransactionStatus
from tessera.tenancy.models import Merchant, Store
from tessera.tiers.models import TierChange

#: Deltas folded per transaction by the compaction task.
BATCH = 5000
#: Ids per `IN (...)` list (SQLite allows 32,766 parameters; PostgreSQL plans small lists better).
_ID_CHUNK = 1000


# --- time zones and local days -----------------------------------------------------------------------


def local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def _store_zone(store: Store | None, merchant_id: int, merchant: Merchant | None = None) -> str:
    """The store's time zone, else the merchant's; avoids a query when the objects are at hand (the
    store's merchant loaded with it, or `merchant`)."""
    if store is not None and store.time_zone:
        return store.time_zone
    if store is not None and Store.merchant.is_cached(store):
        return store.merchant.time_zone
    if merchant is not None and merchant.pk == merchant_id:
        return merchant.time_zone
    return str(Merchant.objects.filter(pk=merchant_id).values_list("time_zone", flat=True).get())


def _merchant_of(obj: Any) -> Merchant | None:
    """The row's merchant when it is loaded already (no query), else None."""
    return obj.merchant if type(obj).merchant.is_cached(obj) else None


class _Zones:
    """Time zones of a merchant's stores, for the rebuild: one query, then lookups."""

    def __init__(self, merchant: Merchant) -> None:
        self.default = merchant.time_zone
        self.stores = {
            pk: zone or merchant.time_zone
            for pk, zone in Store.objects.filter(merchant=merchant).values_list("pk", "time_zone")
        }

    def of(self, store_id: int | None) -> str:
        return self.stores.get(store_id or NONE, self.default)


# --- folding deltas into daily rows -------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    """A delta's key and amounts (from the EntryDelta table, or derived from an entry by the rebuild)."""

    merchant_id: int
    entry_id: int
    day: date
    store_id: int
    account_kind: str
    kind: str
    reversed_kind: str
    actor_id: int
    amount: int
    sale_amount: int


LedgerKey = tuple[int, date, int, str, str, str, int]
FlowKey = tuple[int, date, str, int, int, str, str]
SalesKey = tuple[int, date, int, int, int]

_ENTRY_COLUMNS = (
    "merchant_id, entry_id, day, store_id, account_kind, kind, reversed_kind, actor_id, amount, sale_amount"
)
_SALE_COLUMNS = (
    "merchant_id, day, store_id, card_type_id, tier_id, sales, amount, discount, refunds, refunded"
)


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _entry_row(values: Sequence[Any]) -> EntryRow:
    m, e, day, store, account_kind, kind, rk, actor, amount, sale_amount = values
    return EntryRow(m, e, _as_date(day), store, account_kind, kind, rk, actor, amount, sale_amount)


def ledger_sums(rows: Iterable[EntryRow]) -> dict[LedgerKey, list[int]]:
    """credit, debit, entries and sale amount per LedgerDay key."""
    sums: dict[LedgerKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows:
        s = sums[(r.merchant_id, r.day, r.store_id, r.account_kind, r.kind, r.reversed_kind, r.actor_id)]
        if r.amount > 0:
            s[0] += r.amount
        else:
            s[1] -= r.amount
        s[2] += 1
        s[3] += r.sale_amount
    return sums


def _chunks(items: Sequence[Any], size: int = _ID_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def flow_sums(rows: Sequence[EntryRow]) -> dict[FlowKey, int]:
    """Lot flows of these entries per LotFlowDay key: a credit opens lots issued by its own store; any
    other entry moves value in the lots its LotUse rows name, issued by those lots' entries' stores."""
    sums: dict[FlowKey, int] = defaultdict(int)
    by_entry: dict[int, EntryRow] = {}
    for r in rows:
        if r.amount > 0 and r.kind != EntryKind.REVERSAL:
            key = (r.merchant_id, r.day, r.account_kind, r.store_id, r.store_id, r.kind, r.reversed_kind)
            sums[key] += r.amount
        else:
            by_entry[r.entry_id] = r
    ids = list(by_entry)
    for chunk in _chunks(ids):
        uses = LotUse.objects.filter(entry_id__in=chunk).values_list(
            "entry_id", "amount", "lot__entry__store_id"
        )
        for entry_id, amount, origin in uses:
            r = by_entry[entry_id]
            key = (r.merchant_id, r.day, r.account_kind, origin or NONE, r.store_id, r.kind, r.reversed_kind)
            sums[key] += amount
    return sums


def _upsert(table: str, keys: Sequence[str], measures: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Add `rows` (key values then measure values) to the daily table: insert, or add on conflict."""
    batch = list(rows)
    if not batch:
        return
    columns = [*keys, *measures]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, batch)


_LEDGER_KEYS = ("merchant_id", "day", "store_id", "account_kind", "kind", "reversed_kind", "actor_id")
_FLOW_KEYS = (
    "merchant_id",
    "day",
    "account_kind",
    "origin_store_id",
    "use_store_id",
    "kind",
    "reversed_kind",
)
_SALES_KEYS = ("merchant_id", "day", "store_id", "card_type_id", "tier_id")
_SALES_MEASURES = ("sales", "amount", "discount", "refunds", "refunded")


def fold_entries(rows: Sequence[EntryRow]) -> None:
    """Add these entries to LedgerDay and LotFlowDay (inside the caller's transaction)."""
    _upsert(
        LedgerDay._meta.db_table,
        _LEDGER_KEYS,
        ("credit", "debit", "entries", "sale_amount"),
        ((*key, *values) for key, values in ledger_sums(rows).items()),
    )
    _upsert(
        LotFlowDay._meta.db_table,
        _FLOW_KEYS,
        ("amount",),
        ((*key, amount) for key, amount in flow_sums(rows).items() if amount),
    )


def sales_sums(rows: Iterable[Sequence[Any]]) -> dict[SalesKey, list[int]]:
    sums: dict[SalesKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for m, day, store, card_type, tier, *measures in rows:
        s = sums[(m, _as_date(day), store, card_type, tier)]
        for i, value in enumerate(measures):
            s[i] += value
    return sums


def fold_sales(rows: Iterable[Sequence[Any]]) -> None:
    _upsert(
        SalesDay._meta.db_table,
        _SALES_KEYS,
        _SALES_MEASURES,
        ((*key, *values) for key, values in sales_sums(rows).items()),
    )


def _take(table: str, columns: str, batch: int) -> list[tuple[Any, ...]]:
    """Delete up to `batch` of the oldest deltas and return them. A delta deleted here is invisible to
    any other compaction (it blocks on the row, then skips it), so each is folded exactly once."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s) "
            f"RETURNING {columns}",
            [batch],
        )
        return list(cursor.fetchall())


def compact(*, batch: int = BATCH) -> int:
    """Fold every waiting delta into the daily tables, a batch per transaction; returns how many."""
    folded = 0
    while True:
        with transaction.atomic():
            taken = _take(EntryDelta._meta.db_table, _ENTRY_COLUMNS, batch)
            fold_entries([_entry_row(values) for values in taken])
        folded += len(taken)
        if len(taken) < batch:
            break
    while True:
        with transaction.atomic():
            sales = _take(SaleDelta._meta.db_table, _SALE_COLUMNS, batch)
            fold_sales(sales)
        folded += len(sales)
        if len(sales) < batch:
            break
    return folded


# --- consistent reads ---------------------------------------------------------------------------------


@contextlib.contextmanager
def snapshot(*, write: bool = False) -> Iterator[None]:
    """One transaction whose reads see one snapshot: daily rows and waiting deltas are read together, so a
    compaction committing in between can neither hide a delta nor show it twice. On PostgreSQL that is
    REPEATABLE READ (when this opens the transaction); SQLite transactions are snapshots already."""
    opens = not connection.in_atomic_block
    with transaction.atomic():
        if opens and connection.vendor == "postgresql":
            mode = "" if write else " READ ONLY"
            with connection.cursor() as cursor:
                cursor.execute(f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ{mode}")
        yield


def pending_entry_rows(merchant: Merchant, start: date, end: date) -> list[EntryRow]:
    """Entry deltas not yet folded, of days start..end."""
    values = EntryDelta.objects.filter(merchant=merchant, day__gte=start, day__lte=end).values_list(
        *[c.strip() for c in _ENTRY_COLUMNS.split(",")]
    )
    return [_entry_row(v) for v in values]


def pending_sales_rows(merchant: Merchant, start: date, end: date) -> list[tuple[Any, ...]]:
    return list(
        SaleDelta.objects.filter(merchant=merchant, day__gte=start, day__lte=end).values_list(
            *[c.strip() for c in _SALE_COLUMNS.split(",")]
        )
    )


# --- rebuild from the raw tables ----------------------------------------------------------------------


def rebuild(*, merchant: Merchant) -> None:
    """Recompute the merchant's daily tables from the ledger and sales tables, dropping its deltas.

    One REPEATABLE READ transaction on PostgreSQL: entries committed after its snapshot keep their deltas
    (the DELETE cannot see those), so they are folded later and nothing is lost or counted twice."""
    with snapshot(write=True):
        for model in (EntryDelta, SaleDelta, LedgerDay, LotFlowDay, SalesDay, MemberVisits, MemberCount):
            model.objects.filter(merchant=merchant).delete()
        if connection.vendor == "postgresql":
            _rebuild_sql(merchant)
        else:
            _rebuild_python(merchant)
        _rebuild_member_counts(merchant)


def _rebuild_member_counts(merchant: Merchant) -> None:
    """Current members per home store and birthday, region and occupation: a few grouped queries."""
    current = Member.objects.filter(merchant=merchant, superseded_by__isnull=True, erased_at__isnull=True)
    counts = []
    for dimension in MemberCount.Dimension:
        grouped = current.values_list("home_store_id", dimension.value).annotate(n=Count("pk")).order_by()
        counts += [
            MemberCount(
                merchant=merchant,
                home_store_id=store or NONE,
                dimension=dimension,
                value=value.isoformat() if isinstance(value, date) else value or "",
                members=n,
            )
            for store, value, n in grouped.iterator(chunk_size=5000)
        ]
    MemberCount.objects.bulk_create(counts, batch_size=5000)


def _rebuild_python(merchant: Merchant) -> None:
    zones = _Zones(merchant)
    entries = (
        Entry.objects.filter(merchant=merchant)
        .order_by("pk")
        .values_list(
            "pk",
            "occurred_at",
            "store_id",
            "account__kind",
            "kind",
            "reverses__kind",
            "created_by_id",
            "amount",
            "sale_amount",
        )
    )
    rows = [
        EntryRow(
            merchant.pk,
            pk,
            local_day(at, zones.of(store)),
            store or NONE,
            account_kind,
            kind,
            reversed_kind or "",
            actor or NONE,
            amount,
            sale_amount or 0,
        )
        for pk, at, store, account_kind, kind, reversed_kind, actor, amount, sale_amount in entries.iterator(
            chunk_size=5000
        )
    ]
    for chunk in _chunks(rows, BATCH):
        fold_entries(chunk)
    fold_sales(_sales_rows_python(merchant, zones))
    visits = (
        Transaction.objects.filter(merchant=merchant, status=TransactionStatus.CONFIRMED)
        .values_list(TruncMonth("occurred_at", tzinfo=merchant.tz), "member_id", "store_id", "card__type_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    MemberVisits.objects.bulk_create(
        MemberVisits(
            merchant=merchant,
            month=_as_date(month.date() if isinstance(month, datetime) else month),
            member_id=member,
            store_id=store,
            card_type_id=card_type or NONE,
            visits=n,
        )
        for month, member, store, card_type, n in visits.iterator(chunk_size=5000)
    )


def _sales_rows_python(merchant: Merchant, zones: _Zones) -> Iterator[tuple[Any, ...]]:
    tier_before = Subquery(
        TierChange.objects.filter(member_id=OuterRef("member_id"), at__lt=OuterRef("confirmed_at"))
        .order_by("-at", "-pk")
        .values("to_tier_id")[:1]
    )
    sales = (
        Transaction.objects.filter(merchant=merchant, status=TransactionStatus.CONFIRMED)
        .annotate(tier=tier_before)
        .values_list("occurred_at", "store_id", "card__type_id", "tier", "total_amount", "discount_amount")
    )
    for at, store, card_type, tier, total, discount in sales.iterator(chunk_size=5000):
        day = local_day(at, zones.of(store))
        yield (merchant.pk, day, store, card_type or NONE, tier or NONE, 1, total, discount, 0, 0)
    refund_tier = Subquery(
        TierChange.objects.filter(
            member_id=OuterRef("transaction__member_id"), at__lt=OuterRef("transaction__confirmed_at")
        )
        .order_by("-at", "-pk")
        .values("to_tier_id")[:1]
    )
    refunds = (
        Refund.objects.filter(merchant=merchant)
        .annotate(tier=refund_tier)
        .values_list("created_at", "store_id", "transaction__card__type_id", "tier", "amount")
    )
    for at, store, card_type, tier, amount in refunds.iterator(chunk_size=5000):
        day = local_day(at, zones.of(store))
        yield (merchant.pk, day, store, card_type or NONE, tier or NONE, 0, 0, 0, 1, amount)


def _rebuild_sql(merchant: Merchant) -> None:
    """The same figures set-based, for a merchant with millions of entries: the local day is computed by
    PostgreSQL (`AT TIME ZONE` the store's zone, else the merchant's)."""
    t = {
        "entry": Entry._meta.db_table,
        "account": Account._meta.db_table,
        "lot": Lot._meta.db_table,
        "lotuse": LotUse._meta.db_table,
        "store": Store._meta.db_table,
        "merchant": Merchant._meta.db_table,
        "sale": Transaction._meta.db_table,
        "refund": Refund._meta.db_table,
        "card": Card._meta.db_table,
        "tierchange": TierChange._meta.db_table,
        "ledgerday": LedgerDay._meta.db_table,
        "flowday": LotFlowDay._meta.db_table,
        "salesday": SalesDay._meta.db_table,
        "visits": MemberVisits._meta.db_table,
    }
    zone = "COALESCE(NULLIF(s.time_zone, ''), m.time_zone)"
    local = f"(e.occurred_at AT TIME ZONE {zone})::date"
    entries = f"""
        FROM {t["entry"]} e
        JOIN {t["account"]} a ON a.id = e.account_id
        JOIN {t["merchant"]} m ON m.id = e.merchant_id
        LEFT JOIN {t["store"]} s ON s.id = e.store_id
        LEFT JOIN {t["entry"]} r ON r.id = e.reverses_id
        WHERE e.merchant_id = %(m)s
    """
    tier = f"""COALESCE((SELECT tc.to_tier_id FROM {t["tierchange"]} tc
        WHERE tc.member_id = x.member_id AND tc.at < x.confirmed_at
        ORDER BY tc.at DESC, tc.id DESC LIMIT 1), 0)"""
    lot_uses = f"""JOIN {t["lotuse"]} u ON u.entry_id = e.id JOIN {t["lot"]} l ON l.id = u.lot_id
        JOIN {t["entry"]} le ON le.id = l.entry_id WHERE"""
    statements = [
        f"""INSERT INTO {t["ledgerday"]} (merchant_id, day, store_id, account_kind, kind, reversed_kind,
              actor_id, credit, debit, entries, sale_amount)
            SELECT e.merchant_id, {local}, COALESCE(e.store_id, 0), a.kind, e.kind, COALESCE(r.kind, ''),
              COALESCE(e.created_by_id, 0), SUM(GREATEST(e.amount, 0)), SUM(GREATEST(-e.amount, 0)),
              COUNT(*), SUM(COALESCE(e.sale_amount, 0))
            {entries}
            GROUP BY 1, 2, 3, 4, 5, 6, 7""",
        f"""INSERT INTO {t["flowday"]} (merchant_id, day, account_kind, origin_store_id, use_store_id, kind,
              reversed_kind, amount)
            SELECT merchant_id, day, account_kind, origin, use, kind, reversed_kind, SUM(amount) FROM (
              SELECT e.merchant_id, {local} AS day, a.kind AS account_kind,
                COALESCE(e.store_id, 0) AS origin, COALESCE(e.store_id, 0) AS use, e.kind,
                '' AS reversed_kind, e.amount
              {entries} AND e.amount > 0 AND e.kind <> 'reversal'
              UNION ALL
              SELECT e.merchant_id, {local}, a.kind, COALESCE(le.store_id, 0), COALESCE(e.store_id, 0),
                e.kind, COALESCE(r.kind, ''), u.amount
              {entries.replace("WHERE", lot_uses)}
                AND NOT (e.amount > 0 AND e.kind <> 'reversal')
            ) flows
            GROUP BY 1, 2, 3, 4, 5, 6, 7
            HAVING SUM(amount) <> 0""",
        f"""INSERT INTO {t["salesday"]} (merchant_id, day, store_id, card_type_id, tier_id, sales, amount,
              discount, refunds, refunded)
            SELECT merchant_id, day, store_id, card_type_id, tier_id, SUM(sales), SUM(amount),
              SUM(discount), SUM(refunds), SUM(refunded) FROM (
              SELECT x.merchant_id, (x.occurred_at AT TIME ZONE {zone})::date AS day, x.store_id,
                COALESCE(c.type_id, 0) AS card_type_id, {tier} AS tier_id, 1 AS sales,
                x.total_amount AS amount, x.discount_amount AS discount, 0 AS refunds, 0 AS refunded
              FROM {t["sale"]} x JOIN {t["merchant"]} m ON m.id = x.merchant_id
              JOIN {t["store"]} s ON s.id = x.store_id LEFT JOIN {t["card"]} c ON c.id = x.card_id
              WHERE x.merchant_id = %(m)s AND x.status = 'confirmed'
              UNION ALL
              SELECT f.merchant_id, (f.created_at AT TIME ZONE {zone})::date, f.store_id,
                COALESCE(c.type_id, 0), {tier}, 0, 0, 0, 1, f.amount
              FROM {t["refund"]} f JOIN {t["sale"]} x ON x.id = f.transaction_id
              JOIN {t["merchant"]} m ON m.id = f.merchant_id JOIN {t["store"]} s ON s.id = f.store_id
              LEFT JOIN {t["card"]} c ON c.id = x.card_id
              WHERE f.merchant_id = %(m)s
            ) sales
            GROUP BY 1, 2, 3, 4, 5""",
        f"""INSERT INTO {t["visits"]} (merchant_id, month, member_id, store_id, card_type_id, visits)
            SELECT x.merchant_id, date_trunc('month', x.occurred_at AT TIME ZONE m.time_zone)::date,
              x.member_id, x.store_id, COALESCE(c.type_id, 0), COUNT(*)
            FROM {t["sale"]} x JOIN {t["merchant"]} m ON m.id = x.merchant_id
            LEFT JOIN {t["card"]} c ON c.id = x.card_id
            WHERE x.merchant_id = %(m)s AND x.status = 'confirmed'
            GROUP BY 1, 2, 3, 4, 5
            -- In month order, as the sales' trigger writes them live, so a month's rows lie together
            -- on disk (the month presets read 4x faster at 10,000,000 sales; docs/performance.md).
            ORDER BY 2, 3""",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, {"m": merchant.pk})
