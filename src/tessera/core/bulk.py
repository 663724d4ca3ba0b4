"""`INSERT … SELECT` for set-based writers (issue 16): one statement writes a chunk of rows, whatever
its size, with no model instance per row.

Django applies field defaults in Python, so the tables have none: `insert_select` names every column of
the model's table, takes the ones the writer gives as SQL expressions over its source, and fills the
rest with the field's default (or a value the writer passes), adapted for the database.
"""

# The SQL is built from the models' own column names and the caller's fixed text; values are parameters.

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models


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


def any_of(ids: Sequence[int]) -> tuple[str, Any]:
    """`IN` a list of ids as one parameter, whatever its length: an array on PostgreSQL, a JSON array
    on SQLite (as `ledger.tasks.expire_points`). Returns the SQL after the column and the parameter."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", list(ids)
    return "IN (SELECT value FROM json_each(%s))", json.dumps(list(ids))
