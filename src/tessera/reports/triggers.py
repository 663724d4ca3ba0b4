"""The reports' deltas, written by the database itself (issue 13): triggers owned by the reports.

A ledger entry, a sale confirmed or voided and a refund each add a delta row (`EntryDelta`, `SaleDelta`)
in the statement that writes them, so the deltas commit or roll back with the write and cost the till
no round trip. The ledger and the sales neither call the reports nor know about these triggers: the
reports install them on the tables below them, as a listener would connect to a signal.

What each trigger writes is what `aggregates.rebuild` computes from the same rows (the local day in the
store's time zone, else the merchant's; the member's tier just before the sale was confirmed):

- `ledger_entry` INSERT → one `reports_entrydelta` per entry;
- `sales_transaction` INSERT or UPDATE of `status` → one `reports_saledelta` when the sale starts
  (+1) or stops (-1) being confirmed, on the sale's own day;
- `sales_refund` INSERT → one `reports_saledelta` on the refund's day and store;
- the same sale trigger adds the visit (+1 or -1) to the member's `reports_membervisits` row of the
  sale's month in the merchant's zone (issue 16);
- `members_member` INSERT, DELETE or UPDATE of what the customers report counts → the member's
  `reports_membercount` rows: -1 under the old values when the old row was a current member, +1 under
  the new ones when the new row is (issue 16); on PostgreSQL the members one INSERT writes (an import)
  are counted together, in one grouped upsert — or, inside `member_counts_deferred`, once for the
  whole transaction.

PostgreSQL computes the local day with `AT TIME ZONE`; SQLite with Django's own
`django_datetime_cast_date`, which Django registers on every connection it opens (so on SQLite the
rows must be written through Django, as everything in Tessera is). SQLite drops a table's triggers
when a migration rebuilds the table, so `install` runs again after every `migrate` (`ReportsConfig`).
"""

# The SQL is fixed text; no value is interpolated.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

_ZONE = "COALESCE(NULLIF(s.time_zone, ''), m.time_zone)"
_TIER = """COALESCE((SELECT tc.to_tier_id FROM tiers_tierchange tc
        WHERE tc.member_id = {sale}.member_id AND tc.at < {sale}.confirmed_at
        ORDER BY tc.at DESC, tc.id DESC LIMIT 1), 0)"""
_CARD_TYPE = "COALESCE((SELECT c.type_id FROM cards_card c WHERE c.id = {sale}.card_id), 0)"

_ENTRY_COLUMNS = (
    "merchant_id, entry_id, day, store_id, account_kind, kind, reversed_kind, actor_id, amount, sale_amount"
)
_SALE_COLUMNS = (
    "merchant_id, day, store_id, card_type_id, tier_id, sales, amount, discount, refunds, refunded"
)


def _entry_select(e: str, day: str, source: str = "ledger_account a") -> str:
    return f"""SELECT {e}.merchant_id, {e}.id, {day}, COALESCE({e}.store_id, 0), a.kind, {e}.kind,
          COALESCE(r.kind, ''), COALESCE({e}.created_by_id, 0), {e}.amount, COALESCE({e}.sale_amount, 0)
        FROM {source}
        JOIN tenancy_merchant m ON m.id = {e}.merchant_id
        LEFT JOIN tenancy_store s ON s.id = {e}.store_id
        LEFT JOIN ledger_entry r ON r.id = {e}.reverses_id"""


def _sale_select(x: str, day: str, sign: str) -> str:
    return f"""SELECT {x}.merchant_id, {day}, {x}.store_id, {_CARD_TYPE.format(sale=x)},
          {_TIER.format(sale=x)}, {sign}, {sign} * {x}.total_amount, {sign} * {x}.discount_amount, 0, 0
        FROM tenancy_merchant m LEFT JOIN tenancy_store s ON s.id = {x}.store_id
        WHERE m.id = {x}.merchant_id"""


def _refund_select(f: str, day: str) -> str:
    return f"""SELECT {f}.merchant_id, {day}, {f}.store_id, {_CARD_TYPE.format(sale="x")},
          {_TIER.format(sale="x")}, 0, 0, 0, 1, {f}.amount
        FROM sales_transaction x
        JOIN tenancy_merchant m ON m.id = {f}.merchant_id
        LEFT JOIN tenancy_store s ON s.id = {f}.store_id
        WHERE x.id = {f}.transaction_id"""


#: The visit of a sale (`{x}`, signed `{sign}`) on its member's row of the sale's month.
_VISIT = (
    """INSERT INTO reports_membervisits (merchant_id, month, member_id, store_id, card_type_id, visits)
        SELECT {x}.merchant_id, {month}, {x}.member_id, {x}.store_id, """
    + _CARD_TYPE.format(sale="{x}")
    + """, {sign}
        FROM tenancy_merchant m WHERE m.id = {x}.merchant_id
        ON CONFLICT (merchant_id, month, member_id, store_id, card_type_id)
        DO UPDATE SET visits = reports_membervisits.visits + excluded.visits"""
)

#: What the customers report counts of a member row, per `reports_membercount` dimension.
_COUNTED = {"birthday": "COALESCE({birthday}, '')", "region": "{m}.region", "occupation": "{m}.occupation"}
_CURRENT = "{m}.superseded_by_id IS NULL AND {m}.erased_at IS NULL"
_MEMBER_COLUMNS = ("home_store_id", "birthday", "region", "occupation", "superseded_by_id", "erased_at")


def _count_member(m: str, birthday: str) -> list[str]:
    """+1 under member row `m`'s values when it is a current member (`birthday`: its ISO text)."""
    return [
        f"""INSERT INTO reports_membercount (merchant_id, home_store_id, dimension, value, members)
        SELECT {m}.merchant_id, COALESCE({m}.home_store_id, 0), '{dimension}',
          {value.format(m=m, birthday=birthday)}, 1
        WHERE {_CURRENT.format(m=m)}
        ON CONFLICT (merchant_id, dimension, home_store_id, value)
        DO UPDATE SET members = reports_membercount.members + 1"""
        for dimension, value in _COUNTED.items()
    ]


def _counted_values(m: str, birthday: str) -> str:
    """(dimension, value) rows of member row `m`, for a VALUES list."""
    return ", ".join(f"('{d}', {value.format(m=m, birthday=birthday)})" for d, value in _COUNTED.items())


def _uncount_member(m: str, birthday: str) -> list[str]:
    """-1 under member row `m`'s values when it was a current member. An update, not an upsert: when the
    merchant is being deleted its rows may be gone already, and there is nothing left to count."""
    return [
        f"""UPDATE reports_membercount SET members = members - 1
        WHERE merchant_id = {m}.merchant_id AND dimension = '{dimension}'
          AND home_store_id = COALESCE({m}.home_store_id, 0)
          AND value = {value.format(m=m, birthday=birthday)} AND {_CURRENT.format(m=m)}"""
        for dimension, value in _COUNTED.items()
    ]


@contextmanager
def member_counts_deferred(connection: Any = None) -> Iterator[None]:
    """Inside, on PostgreSQL, the members each INSERT writes are counted into the transaction's pending
    counts (a temporary table), and on the way out added to `reports_membercount` in one grouped upsert
    — for a writer that inserts many members in one transaction, an import of *all or nothing*.

    Counted block by block, each count row would be updated again by every INSERT of the transaction:
    none of those versions can be cleaned up before it commits, so each upsert walked every earlier
    one (a million members in blocks of 5,000: ~0.45 s of the trigger a block, 1,262 birthday values
    with 350,000 dead versions behind them). Exact all the same: the pending counts are added in the
    same transaction. Used inside `transaction.atomic()`; an exception leaves them unadded, for the
    rollback. Nothing to do on SQLite, whose trigger counts row by row."""
    connection = connection or connections["default"]
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("member_counts_deferred needs a transaction (transaction.atomic)")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TEMPORARY TABLE IF NOT EXISTS {_PENDING} (merchant_id bigint, home_store_id bigint,
            dimension varchar(20), value varchar(100), members bigint) ON COMMIT DROP"""
        )
        cursor.execute(f"SET LOCAL {_DEFERRED_SETTING} = 'on'")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL {_DEFERRED_SETTING} = 'off'")
        cursor.execute(
            f"""INSERT INTO reports_membercount (merchant_id, home_store_id, dimension, value, members)
            SELECT merchant_id, home_store_id, dimension, value, SUM(members) FROM {_PENDING}
            GROUP BY 1, 2, 3, 4
            ON CONFLICT (merchant_id, dimension, home_store_id, value)
            DO UPDATE SET members = reports_membercount.members + excluded.members"""
        )
        cursor.execute(f"TRUNCATE {_PENDING}")


def _pg_day(moment: str) -> str:
    return f"({moment} AT TIME ZONE {_ZONE})::date"


def _sqlite_day(moment: str) -> str:
    return f"django_datetime_cast_date({moment}, {_ZONE}, 'UTC')"


def _pg_month(moment: str) -> str:
    return f"date_trunc('month', {moment} AT TIME ZONE m.time_zone)::date"


def _sqlite_month(moment: str) -> str:
    return f"strftime('%Y-%m-01', django_datetime_cast_date({moment}, m.time_zone, 'UTC'))"


def _pg_birthday(m: str) -> str:
    return f"to_char({m}.birthday, 'YYYY-MM-DD')"


def _statements(sql: list[str]) -> str:
    return "".join(f"{s};\n        " for s in sql)


_NEW_ENTRIES = "new_entries e JOIN ledger_account a ON a.id = e.account_id"
_CONFIRMED = "(CASE WHEN {row}.status = 'confirmed' THEN 1 ELSE 0 END)"

#: The grouped counts of the members one INSERT wrote (its transition table `new_members`).
_NEW_MEMBER_COUNTS = f"""SELECT n.merchant_id, COALESCE(n.home_store_id, 0), d.dimension, d.value, COUNT(*)
        FROM new_members n CROSS JOIN LATERAL (VALUES {_counted_values("n", _pg_birthday("n"))})
            AS d (dimension, value)
        WHERE {_CURRENT.format(m="n")}
        GROUP BY 1, 2, 3, 4"""
#: Set (for the transaction) by `member_counts_deferred`.
_DEFERRED_SETTING = "tessera.defer_member_counts"
#: The transaction's pending counts: a temporary table, dropped at commit.
_PENDING = "reports_pending_member_counts"


POSTGRESQL = [
    f"""CREATE OR REPLACE FUNCTION reports_entry_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO reports_entrydelta ({_ENTRY_COLUMNS})
        {_entry_select("e", _pg_day("e.occurred_at"), _NEW_ENTRIES)}
        ORDER BY e.id;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS reports_entry_deltas ON ledger_entry",
    """CREATE TRIGGER reports_entry_deltas AFTER INSERT ON ledger_entry
        REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION reports_entry_deltas()""",
    f"""CREATE OR REPLACE FUNCTION reports_sale_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE sign integer;
    BEGIN
        sign := {_CONFIRMED.format(row="NEW")};
        IF TG_OP = 'UPDATE' THEN
            sign := sign - {_CONFIRMED.format(row="OLD")};
        END IF;
        IF sign <> 0 THEN
            INSERT INTO reports_saledelta ({_SALE_COLUMNS})
            {_sale_select("NEW", _pg_day("NEW.occurred_at"), "sign")};
            {_VISIT.format(x="NEW", month=_pg_month("NEW.occurred_at"), sign="sign")};
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS reports_sale_deltas ON sales_transaction",
    """CREATE TRIGGER reports_sale_deltas AFTER INSERT OR UPDATE OF status ON sales_transaction
        FOR EACH ROW EXECUTE FUNCTION reports_sale_deltas()""",
    f"""CREATE OR REPLACE FUNCTION reports_refund_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_refund_select("NEW", _pg_day("NEW.created_at"))};
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS reports_refund_deltas ON sales_refund",
    """CREATE TRIGGER reports_refund_deltas AFTER INSERT ON sales_refund
        FOR EACH ROW EXECUTE FUNCTION reports_refund_deltas()""",
    f"""CREATE OR REPLACE FUNCTION reports_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {_statements(_uncount_member("OLD", _pg_birthday("OLD")))}
        END IF;
        IF TG_OP = 'UPDATE' THEN
            {_statements(_count_member("NEW", _pg_birthday("NEW")))}
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS reports_member_counts ON members_member",
    f"""CREATE TRIGGER reports_member_counts
        AFTER DELETE OR UPDATE OF {", ".join(_MEMBER_COLUMNS)} ON members_member
        FOR EACH ROW EXECUTE FUNCTION reports_member_counts()""",
    # Inserts per statement: an import of many members adds its counts in one grouped upsert; inside
    # `member_counts_deferred`, to the transaction's pending counts instead (added up on the way out).
    f"""CREATE OR REPLACE FUNCTION reports_members_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('{_DEFERRED_SETTING}', true) = 'on' THEN
            INSERT INTO {_PENDING} (merchant_id, home_store_id, dimension, value, members)
            {_NEW_MEMBER_COUNTS};
            RETURN NULL;
        END IF;
        INSERT INTO reports_membercount (merchant_id, home_store_id, dimension, value, members)
        {_NEW_MEMBER_COUNTS}
        ON CONFLICT (merchant_id, dimension, home_store_id, value)
        DO UPDATE SET members = reports_membercount.members + excluded.members;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS reports_members_inserted ON members_member",
    """CREATE TRIGGER reports_members_inserted AFTER INSERT ON members_member
        REFERENCING NEW TABLE AS new_members
        FOR EACH STATEMENT EXECUTE FUNCTION reports_members_inserted()""",
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS reports_entry_deltas ON ledger_entry",
    "DROP TRIGGER IF EXISTS reports_sale_deltas ON sales_transaction",
    "DROP TRIGGER IF EXISTS reports_refund_deltas ON sales_refund",
    "DROP FUNCTION IF EXISTS reports_entry_deltas()",
    "DROP FUNCTION IF EXISTS reports_sale_deltas()",
    "DROP FUNCTION IF EXISTS reports_refund_deltas()",
    "DROP TRIGGER IF EXISTS reports_member_counts ON members_member",
    "DROP FUNCTION IF EXISTS reports_member_counts()",
    "DROP TRIGGER IF EXISTS reports_members_inserted ON members_member",
    "DROP FUNCTION IF EXISTS reports_members_inserted()",
]

_SQLITE_SALE_SIGN = f"({_CONFIRMED.format(row='NEW')} - {_CONFIRMED.format(row='OLD')})"

SQLITE = [
    "DROP TRIGGER IF EXISTS reports_entry_deltas",
    f"""CREATE TRIGGER reports_entry_deltas AFTER INSERT ON ledger_entry FOR EACH ROW BEGIN
        INSERT INTO reports_entrydelta ({_ENTRY_COLUMNS})
        {_entry_select("NEW", _sqlite_day("NEW.occurred_at"))}
        WHERE a.id = NEW.account_id;
    END""",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_insert",
    f"""CREATE TRIGGER reports_sale_deltas_insert AFTER INSERT ON sales_transaction FOR EACH ROW
        WHEN NEW.status = 'confirmed' BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_sale_select("NEW", _sqlite_day("NEW.occurred_at"), "1")};
        {_VISIT.format(x="NEW", month=_sqlite_month("NEW.occurred_at"), sign="1")};
    END""",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_update",
    f"""CREATE TRIGGER reports_sale_deltas_update AFTER UPDATE OF status ON sales_transaction FOR EACH ROW
        WHEN {_SQLITE_SALE_SIGN} <> 0 BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_sale_select("NEW", _sqlite_day("NEW.occurred_at"), _SQLITE_SALE_SIGN)};
        {_VISIT.format(x="NEW", month=_sqlite_month("NEW.occurred_at"), sign=_SQLITE_SALE_SIGN)};
    END""",
    "DROP TRIGGER IF EXISTS reports_refund_deltas",
    f"""CREATE TRIGGER reports_refund_deltas AFTER INSERT ON sales_refund FOR EACH ROW BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_refund_select("NEW", _sqlite_day("NEW.created_at"))};
    END""",
    "DROP TRIGGER IF EXISTS reports_member_counts_insert",
    f"""CREATE TRIGGER reports_member_counts_insert AFTER INSERT ON members_member FOR EACH ROW BEGIN
        {_statements(_count_member("NEW", "NEW.birthday"))}
    END""",
    "DROP TRIGGER IF EXISTS reports_member_counts_update",
    f"""CREATE TRIGGER reports_member_counts_update AFTER UPDATE OF {", ".join(_MEMBER_COLUMNS)}
        ON members_member FOR EACH ROW BEGIN
        {_statements(_uncount_member("OLD", "OLD.birthday") + _count_member("NEW", "NEW.birthday"))}
    END""",
    "DROP TRIGGER IF EXISTS reports_member_counts_delete",
    f"""CREATE TRIGGER reports_member_counts_delete AFTER DELETE ON members_member FOR EACH ROW BEGIN
        {_statements(_uncount_member("OLD", "OLD.birthday"))}
    END""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS reports_entry_deltas",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_insert",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_update",
    "DROP TRIGGER IF EXISTS reports_refund_deltas",
    "DROP TRIGGER IF EXISTS reports_member_counts_insert",
    "DROP TRIGGER IF EXISTS reports_member_counts_update",
    "DROP TRIGGER IF EXISTS reports_member_counts_delete",
]


def install(connection: Any) -> None:
    """(Re)create the triggers on `connection`'s database; idempotent."""
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(connection.vendor)
    if statements is None:
        raise NotImplementedError(f"reports triggers for {connection.vendor}")
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def uninstall(connection: Any) -> None:
    statements = {"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP}.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def installed(connection: Any) -> bool:
    """Whether the entry trigger is there (SQLite loses it when a migration rebuilds `ledger_entry`)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'reports_entry_deltas'"
            )
        else:
            cursor.execute("SELECT 1 FROM pg_trigger WHERE tgname = 'reports_entry_deltas'")
        return cursor.fetchone() is not None
