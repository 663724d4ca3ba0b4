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
- `sales_refund` INSERT → one `reports_saledelta` on the refund's day and store.

PostgreSQL computes the local day with `AT TIME ZONE`; SQLite with Django's own
`django_datetime_cast_date`, which Django registers on every connection it opens (so on SQLite the
rows must be written through Django, as everything in Tessera is). SQLite drops a table's triggers
when a migration rebuilds the table, so `install` runs again after every `migrate` (`ReportsConfig`).
"""

# The SQL is fixed text; no value is interpolated.
# ruff: noqa: S608

from __future__ import annotations

from typing import Any

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


def _pg_day(moment: str) -> str:
    return f"({moment} AT TIME ZONE {_ZONE})::date"


def _sqlite_day(moment: str) -> str:
    return f"django_datetime_cast_date({moment}, {_ZONE}, 'UTC')"


_NEW_ENTRIES = "new_entries e JOIN ledger_account a ON a.id = e.account_id"
_CONFIRMED = "(CASE WHEN {row}.status = 'confirmed' THEN 1 ELSE 0 END)"

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
]

POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS reports_entry_deltas ON ledger_entry",
    "DROP TRIGGER IF EXISTS reports_sale_deltas ON sales_transaction",
    "DROP TRIGGER IF EXISTS reports_refund_deltas ON sales_refund",
    "DROP FUNCTION IF EXISTS reports_entry_deltas()",
    "DROP FUNCTION IF EXISTS reports_sale_deltas()",
    "DROP FUNCTION IF EXISTS reports_refund_deltas()",
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
    END""",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_update",
    f"""CREATE TRIGGER reports_sale_deltas_update AFTER UPDATE OF status ON sales_transaction FOR EACH ROW
        WHEN {_SQLITE_SALE_SIGN} <> 0 BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_sale_select("NEW", _sqlite_day("NEW.occurred_at"), _SQLITE_SALE_SIGN)};
    END""",
    "DROP TRIGGER IF EXISTS reports_refund_deltas",
    f"""CREATE TRIGGER reports_refund_deltas AFTER INSERT ON sales_refund FOR EACH ROW BEGIN
        INSERT INTO reports_saledelta ({_SALE_COLUMNS})
        {_refund_select("NEW", _sqlite_day("NEW.created_at"))};
    END""",
]

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS reports_entry_deltas",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_insert",
    "DROP TRIGGER IF EXISTS reports_sale_deltas_update",
    "DROP TRIGGER IF EXISTS reports_refund_deltas",
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
