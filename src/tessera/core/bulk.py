"""Set-based bulk work (issue 16): statements that write a chunk of rows whatever its size, with no
model instance per row.

- `id_list()`: a chunk of ids bound as one value — one array on PostgreSQL (`= ANY(%s)`), one JSON
  array on SQLite (`IN (SELECT value FROM json_each(%s))`). A placeholder per id costs the client more
  to bind than the statement costs the server. The nightly jobs lock and write a chunk of accounts or
  members this way (`UPDATE … FROM`, `INSERT … SELECT … RETURNING`).
- `insert_select()`: `INSERT … SELECT` naming every column of a model's table. Django applies field
  defaults in Python, so the tables have none: the columns the writer gives are SQL expressions over
  its source, the rest get the field's default (or a value the writer passes), adapted for the
  database.
"""

# The SQL is built from the models' own column names and the caller's fixed text; values are parameters.

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models


@dataclass(frozen=True)
class IdList:
    """`sql`: " = ANY(%s)" or " IN (SELECT value FROM json_each(%s))", to follow a column; `param`
    turns a list of ids into its one bound value."""

    sql: str
    param: Callable[[Sequence[int]], list[int] | str]

    def of(self, ids: Sequence[int]) -> tuple[str, list[int] | str]:
        """The SQL to follow a column, and `ids` as its one parameter."""
        return self.sql, self.param(ids)


def id_list() -> IdList:
    """How this connection's database says "is one of a list of ids" with one bound value."""
    if connection.vendor == "postgresql":
        return IdList(sql="= ANY(%s)", param=list)
    return IdList(sql="IN (SELECT value FROM json_each(%s))", param=lambda ids: json.dumps(list(ids)))


@dataclass(frozen=True)
class Param:
    """A value for a column, passed as a parameter (prepared by the column's field)."""

    value: Any


def insert_select(
    model: type[models.Model],
    values: Mapping[str, str | Param],
    source: str,
    params: Sequence[Any] = (),
) -> tuple[str, list[Any]]:
    """The statement and its parameters: `INSERT INTO <table> (<every column>) SELECT <values> <source>`.

    `values` maps a column name to an SQL expression over `source` (e.g. `"s.phone"`) or a `Param`;
    `source` is the rest of the SELECT (`FROM … WHERE … ORDER BY …`) with its own `params`. A column
    left out gets its field's default; the primary key is left to the database."""
    fields = [
        (str(f.column), f)
        for f in model._meta.concrete_fields
        if not (f.primary_key and f.column not in values)
    ]
    unknown = set(values) - {column for column, _f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
    quote = connection.ops.quote_name
    expressions: list[str] = []
    select_params: list[Any] = []
    for column, f in fields:
        given = values.get(column)
        if isinstance(given, str):
            expressions.append(given)
            continue
        value = given.value if isinstance(given, Param) else f.get_default()
        expressions.append("%s")
        select_params.append(f.get_db_prep_save(value, connection))
    columns = ", ".join(quote(column) for column, _f in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT {', '.join(expressions)} {source}"
    return sql, [*select_params, *params]


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run one statement; the number of rows it wrote."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def returning(sql: str, params: Sequence[Any], columns: str) -> list[tuple[Any, ...]]:
    """Run an INSERT and return `columns` of the rows it wrote (PostgreSQL and SQLite ≥ 3.35)."""
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns}", params)
        return [tuple(row) for row in cursor.fetchall()]


def analyse_unknown(tables: Sequence[type[models.Model]]) -> list[str]:
    """ANALYZE those of the models' tables whose statistics cannot size them (PostgreSQL; a no-op on
    SQLite). Returns the tables analysed.

    PostgreSQL estimates a table's rows as its current pages times the rows per page its last ANALYZE
    saw, so estimates follow a table's growth once it has been analysed. A table never analysed (a new
    database: a merchant's first import) gets a guess from its column types instead, tens of times too
    small, and the planner then walks a whole growing index for each of a block's rows (issue 16).
    Inside a transaction ANALYZE samples the rows the transaction itself wrote, so a bulk writer calls
    this after its first block."""
    if connection.vendor != "postgresql":
        return []
    names = [model._meta.db_table for model in tables]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r' "
            "AND (reltuples <= 0 OR relpages = 0)",
            [names],
        )
        unknown = [name for (name,) in cursor.fetchall()]
        if unknown:
            quote = connection.ops.quote_name
            cursor.execute(f"ANALYZE {', '.join(quote(name) for name in unknown)}")
    return unknown
