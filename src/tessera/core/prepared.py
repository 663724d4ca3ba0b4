"""ORM queries compiled once per process, then run with new values (issue 13: CPU on the hot path).

Building and compiling a queryset — filters, joins, the live-balance subqueries — costs the point of sale
more CPU than the database spends answering it. A `Prepared` query is written as an ordinary queryset
(so it reads, joins and locks exactly as the ORM would), built once with placeholder values, compiled
once per database backend, and afterwards only its parameters change: each call runs the stored SQL and
turns the rows into model instances the way `QuerySet.__iter__` does (`select_related` objects and
annotations included).

Only for querysets whose SQL does not depend on the values (equality filters, no `__in` of a list, no
`None`): the query is compiled twice with different placeholders when first used, and refused unless
the two differ exactly in the placeholders' parameters.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.constants import MULTI

M = TypeVar("M", bound=Model)

#: The kinds of value a placeholder can stand for.
KINDS = (int, str, datetime)


class Prepared(Generic[M]):
    """`build(**values)` → the queryset; `prepared(**values)` → its rows, compiled only once.

    `kinds` names each value's type (int, str or datetime)."""

    def __init__(self, build: Callable[..., QuerySet[M]], **kinds: type) -> None:
        for name, kind in kinds.items():
            if kind not in KINDS:
                raise ImproperlyConfigured(f"{name}: a placeholder is an int, a str or a datetime")
        self.build = build
        self.kinds = kinds
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def __call__(self, *, using: str = "default", **values: Any) -> list[M]:
        compiled = self._compiled.get(connections[using].vendor) or self._compile(using)
        return compiled.run(using, values)

    def _compile(self, using: str) -> _Compiled:
        with self._lock:
            connection = connections[using]
            (queryset, compiler, sql, params, slots), (_q, _c, other_sql, other_params, other_slots) = (
                self._compile_with(using, offset) for offset in (0, 1000)
            )
            # Built with other placeholders, the query must differ only in them: a value the SQL or
            # another parameter depends on (a list for `__in`, a value computed from it) is refused.
            derived = [i for i, (a, b) in enumerate(zip(params, other_params, strict=False)) if a != b]
            if (
                other_sql != sql
                or len(other_params) != len(params)
                or other_slots != slots
                or (sorted(derived) != sorted(i for positions in slots.values() for i in positions))
            ):
                raise ImproperlyConfigured(
                    "Prepared query: its SQL depends on the values; build it another way"
                )
            compiled = _Compiled(queryset, compiler, sql, list(params), slots)
            self._compiled[connection.vendor] = compiled
            return compiled

    def _compile_with(
        self, using: str, offset: int
    ) -> tuple[Any, SQLCompiler, str, tuple[Any, ...], dict[str, list[int]]]:
        connection = connections[using]
        placeholders = {
            name: _placeholder(kind, offset + n) for n, (name, kind) in enumerate(self.kinds.items())
        }
        queryset = self.build(**placeholders)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots: dict[str, list[int]] = {}
        for name, value in placeholders.items():
            adapted = _adapt(connection, value)
            slots[name] = [i for i, param in enumerate(params) if param == adapted]
            if not slots[name]:
                raise ImproperlyConfigured(
                    f"Prepared query: {name} does not reach the SQL parameters as given"
                )
        return queryset, compiler, sql, tuple(params), slots


class _Compiled:
    def __init__(
        self,
        queryset: QuerySet[Any],
        compiler: SQLCompiler,
        sql: str,
        params: list[Any],
        slots: dict[str, list[int]],
    ) -> None:
        self.queryset, self.compiler, self.sql, self.params, self.slots = (
            queryset,
            compiler,
            sql,
            params,
            slots,
        )
        # What results_iter() would work out on every call: the columns' converters.
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        self.converters = compiler.get_converters(columns)

    def run(self, using: str, values: dict[str, Any]) -> list[Any]:
        connection = connections[using]
        params = list(self.params)
        for name, positions in self.slots.items():
            value = _adapt(connection, values[name])
            for position in positions:
                params[position] = value
        compiler = copy.copy(self.compiler)
        compiler.connection = connection
        compiler.as_sql = lambda *args, **kwargs: (self.sql, tuple(params))  # type: ignore[method-assign]
        results = compiler.execute_sql(MULTI)
        # What ModelIterable does with a compiled query (django.db.models.query).
        select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
        assert klass_info is not None
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, using)  # type: ignore[call-arg]  # Django 5.2's
        rows = []
        rows_read: Any = chain.from_iterable(results or ())
        if self.converters:
            rows_read = compiler.apply_converters(rows_read, self.converters)
        for row in rows_read:
            obj = model.from_db(using, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in (annotations or {}).items():
                setattr(obj, name, row[position])
            rows.append(obj)
        return rows


def _placeholder(kind: type, n: int) -> Any:
    """A value no real call passes, recognisable among the compiled parameters."""
    if kind is int:
        return -(10**15) - n
    if kind is str:
        return f"\x00placeholder-{n}\x00"
    return datetime(1901, 2, 3, tzinfo=UTC) + timedelta(seconds=n)


def _adapt(connection: Any, value: Any) -> Any:
    """A value as the compiler puts it among the parameters."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
