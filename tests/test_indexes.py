"""Each index of ours earns its writes (issue 16: an import of a million members wrote 12 indexes a
member and 10 a history row).

- No index whose columns lead another full index of its table: Django indexes every foreign key, and
  `core.models._no_covered_key_index` drops the key's own index where a composite one starts with it.
- A history table indexes only what history is read by: the record (`id`), besides the library's date,
  user and primary key (`core.models.keep_history`).
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

#: simple_history's own columns, indexed by the library itself.
HISTORY_INDEXED = {"history_id", "id", "history_date", "history_user_id"}


def our_tables(*, auto_created: bool = True) -> set[str]:
    """Our models' tables; with `auto_created`, also those Django makes for a many-to-many field (whose
    two keys' unique pair covers the first key's index: Django's, left as it is)."""
    return {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=auto_created)
        if model.__module__.startswith("tessera.")
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue")
def test_no_index_is_covered_by_another_of_its_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ix AS (
                SELECT i.indrelid::regclass::text AS tbl, c.relname AS name,
                       string_to_array(i.indkey::text, ' ') AS cols, i.indisunique AS uniq,
                       i.indpred IS NOT NULL OR i.indexprs IS NOT NULL AS partial
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema()
            )
            SELECT a.tbl, a.name, b.name FROM ix a JOIN ix b ON a.tbl = b.tbl AND a.name <> b.name
            WHERE NOT a.uniq AND NOT a.partial AND NOT b.partial
              AND cardinality(a.cols) < cardinality(b.cols)
              AND b.cols[1:cardinality(a.cols)] = a.cols
            """
        )
        covered = [row for row in cursor.fetchall() if row[0] in our_tables(auto_created=False)]
    assert covered == []


def test_history_tables_index_only_the_record_date_and_user() -> None:
    history_tables = {table for table in our_tables() if "_historical" in table}
    assert len(history_tables) >= 20
    with connection.cursor() as cursor:
        extra = {
            (table, name): details["columns"]
            for table in sorted(history_tables)
            for name, details in connection.introspection.get_constraints(cursor, table).items()
            if details["index"] and not set(details["columns"]) <= HISTORY_INDEXED
        }
    assert extra == {}


def test_members_index_their_keys_to_other_members_only_where_set() -> None:
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "members_member")
    by_columns = {tuple(details["columns"]): name for name, details in indexes.items() if details["index"]}
    assert by_columns[("superseded_by_id",)] == "member_superseded_by"
    assert by_columns[("referred_by_id",)] == "member_referred_by"
    assert ("merchant_id",) not in by_columns
