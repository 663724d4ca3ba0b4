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

The writes of the hot path are built once too: `create(obj)` is `obj.save()` for a new instance,
`bulk_create(objs)` is `Model.objects.bulk_create(objs)`, `save(obj)` is `obj.save()` (or with
`update_fields`) for an instance read from the database — the same INSERT … RETURNING or UPDATE by
key, the same values (each field's `pre_save` and `get_db_prep_save`), the same signals, but the
statement's text is made once per model, columns and backend instead of by the ORM's compiler on every
call (a third of a millisecond each). A value the ORM would compile into the SQL (an expression, a
database default) is left to the ORM.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, transaction
from django.db.models import Field, Model, QuerySet, signals
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler

M = TypeVar("M", bound=Model)

#: The range of a 64-bit integer column.
_INT64 = (-(2**63), 2**63 - 1)

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
        if any(type(value) is int and not _INT64[0] <= value <= _INT64[1] for value in values.values()):
            # What the ORM does with an integer no column holds (an id from a URL): no row, no query.
            return []
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
        # What results_iter() and ModelIterable would work out on every call: the columns' converters,
        # the model's columns and the related objects' populators (per database alias).
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        self.converters = compiler.get_converters(columns)
        klass_info = compiler.klass_info
        assert klass_info is not None
        self.model = klass_info["model"]
        self.start, self.end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.names = [column[0].target.attname for column in compiler.select[self.start : self.end]]
        self.populators: dict[str, list[Any]] = {}
        #: Where the compiler trims the rows (an extra select for ordering): their model's columns.
        self.col_count = compiler.col_count if compiler.has_extra_select else None

    def run(self, using: str, values: dict[str, Any]) -> list[Any]:
        connection = connections[using]
        params = list(self.params)
        for name, positions in self.slots.items():
            value = _adapt(connection, values[name])
            for position in positions:
                params[position] = value
        # What the compiler's execute_sql(MULTI) does, without copying the compiler or reading in chunks.
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            found: list[Any] = cursor.fetchall()
        if self.col_count is not None:
            found = [row[: self.col_count] for row in found]
        if self.converters:
            found = self._converted(found, connection)
        # What ModelIterable does with a compiled query (django.db.models.query).
        compiler = self.compiler
        annotations = compiler.annotation_col_map
        model, start, end, names = self.model, self.start, self.end, self.names
        populators = self.populators.get(using)
        if populators is None:
            populators = self.populators[using] = get_related_populators(  # type: ignore[call-arg]
                compiler.klass_info,
                compiler.select,
                using,  # Django 5.2's signature
            )
        rows = []
        for row in found:
            obj = model.from_db(using, names, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in (annotations or {}).items():
                setattr(obj, name, row[position])
            rows.append(obj)
        return rows

    def _converted(self, found: list[Any], connection: Any) -> list[Any]:
        """The compiler's apply_converters, with this thread's connection."""
        converters = list(self.converters.items())
        rows = []
        for row in map(list, found):
            for position, (functions, expression) in converters:
                value = row[position]
                for function in functions:
                    value = function(value, expression, connection)
                row[position] = value
            rows.append(row)
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


# --- writes --------------------------------------------------------------------------------------------


def create(obj: M, *, using: str = "default") -> M:
    """`obj.save()` for a new instance (no primary key yet): one INSERT … RETURNING, its text built once;
    `pre_save` and `post_save` are sent as `save()` sends them."""
    if not _insertable([obj]):
        obj.save(using=using)
        return obj
    model = type(obj)
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    signals.pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=None)
    if not _insert([obj], using):
        obj.save(using=using)  # a value only the ORM can write (an expression)
        return obj
    signals.post_save.send(
        sender=model, instance=obj, created=True, update_fields=None, raw=False, using=using
    )
    return obj


def bulk_create(objs: list[M], *, using: str = "default") -> list[M]:
    """`Model.objects.bulk_create(objs)` for new instances of one model: one INSERT … RETURNING of every
    row (as the ORM does on PostgreSQL and SQLite), its text built once per number of rows; no signals."""
    objs = list(objs)
    if not objs:
        return objs
    if not _insertable(objs) or len(objs) > _MAX_ROWS:
        return type(objs[0])._default_manager.db_manager(using).bulk_create(objs)
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
    if not _insert(objs, using):
        return type(objs[0])._default_manager.db_manager(using).bulk_create(objs)
    return objs


def save(obj: Model, *, update_fields: tuple[str, ...] | None = None, using: str = "default") -> None:
    """`obj.save(update_fields=…)` for an instance read from the database: one UPDATE by its key of every
    column (or of `update_fields`), its text built once; `pre_save` and `post_save` are sent as `save()`
    sends them. An instance with deferred fields, or a value the ORM would compile, goes to `save()`."""
    model = type(obj)
    if obj._state.adding or obj.pk is None or (update_fields is None and obj.get_deferred_fields()):
        obj.save(using=using, update_fields=update_fields)
        return
    connection = connections[using]
    statement = _update_statement(model, update_fields, connection)
    changed = frozenset(update_fields) if update_fields is not None else None
    # As save() does it (a list of the named fields only when named: `field in fields` compares fields).
    obj._prepare_related_fields_for_save(  # type: ignore[attr-defined]
        operation_name="save", fields=statement.fields if update_fields is not None else None
    )
    signals.pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=changed)
    values = [field.pre_save(obj, False) for field in statement.fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        obj.save(using=using, update_fields=update_fields)
        return
    params = [
        field.get_db_prep_save(value, connection=connection)
        for field, value in zip(statement.fields, values, strict=True)
    ]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(statement.sql, [*params, obj.pk])
        if cursor.rowcount == 0:
            raise DatabaseError("Forced update did not affect any rows.")
    obj._state.db = using
    signals.post_save.send(
        sender=model, instance=obj, created=False, update_fields=changed, raw=False, using=using
    )


#: Rows in one prepared INSERT; more go through the ORM (which splits them into batches).
_MAX_ROWS = 50


class _Statement:
    def __init__(self, sql: str, fields: list[Field[Any, Any]], converters: list[list[tuple[Any, Any]]]):
        self.sql, self.fields, self.converters = sql, fields, converters


_statements: dict[tuple[Any, ...], _Statement] = {}


def _insertable(objs: list[Any]) -> bool:
    meta = objs[0]._meta
    return not meta.parents and all(obj._state.adding and obj.pk is None for obj in objs)


def _insert_statement(model: type[Model], rows: int, connection: Any) -> _Statement:
    key = ("insert", model, rows, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        returning = list(meta.db_returning_fields)
        if any(hasattr(f, "get_placeholder") for f in fields):
            raise ImproperlyConfigured(f"{meta.label}: a field with its own placeholder; use the ORM")
        qn = connection.ops.quote_name
        row = "({})".format(", ".join(["%s"] * len(fields)))
        returning_sql, _params = connection.ops.return_insert_columns(returning)
        sql = "INSERT INTO {} ({}) VALUES {} {}".format(  # noqa: S608  (names from the model)
            qn(meta.db_table), ", ".join(qn(f.column) for f in fields), ", ".join([row] * rows), returning_sql
        )
        converters = []
        for field in returning:
            column = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            converters.append([(converter, column) for converter in found])
        statement = _statements[key] = _Statement(sql, fields, converters)
    return statement


def _insert(objs: list[Any], using: str) -> bool:
    """INSERT the rows and set what the database returned (the key); False, having written nothing, when a
    value is one the ORM must compile."""
    connection = connections[using]
    model = type(objs[0])
    statement = _insert_statement(model, len(objs), connection)
    params: list[Any] = []
    for obj in objs:
        values = [field.pre_save(obj, True) for field in statement.fields]
        if any(hasattr(value, "resolve_expression") for value in values):
            return False
        params.extend(
            field.get_db_prep_save(value, connection=connection)
            for field, value in zip(statement.fields, values, strict=True)
        )
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    returning = model._meta.db_returning_fields
    for obj, row in zip(objs, rows, strict=True):
        for field, value, converters in zip(returning, row, statement.converters, strict=True):
            for converter, column in converters:
                value = converter(value, column, connection)
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = using
    return True


def _update_statement(
    model: type[Model], update_fields: tuple[str, ...] | None, connection: Any
) -> _Statement:
    key = ("update", model, update_fields, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if not f.primary_key and not f.generated]
        if update_fields is not None:
            fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
            if len(fields) != len(update_fields):
                raise ValueError(f"{meta.label}: not all of {update_fields} are fields to update")
        if any(hasattr(f, "get_placeholder") for f in fields):
            raise ImproperlyConfigured(f"{meta.label}: a field with its own placeholder; use the ORM")
        qn = connection.ops.quote_name
        sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608  (names from the model)
            qn(meta.db_table), ", ".join(f"{qn(f.column)} = %s" for f in fields), qn(meta.pk.column)
        )
        statement = _statements[key] = _Statement(sql, fields, [])
    return statement


def update(
    model: type[Model], pk: Any, *, where: dict[str, Any] | None = None, using: str = "default", **values: Any
) -> int:
    """`model.objects.filter(pk=pk, **where).update(**values)` for plain values (no expressions) and
    equality conditions: its text built once; the number of rows changed."""
    connection = connections[using]
    where = where or {}
    key = ("update-where", model, tuple(values), tuple(where), connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        meta = model._meta
        found = [meta.get_field(name) for name in (*values, *where)]
        fields = [field for field in found if isinstance(field, Field) and field.concrete]
        if len(fields) != len(found):
            raise ImproperlyConfigured(f"{meta.label}: update() names columns only")
        qn = connection.ops.quote_name
        columns = [qn(cast(str, field.column)) for field in fields]
        assignments = ", ".join(f"{column} = %s" for column in columns[: len(values)])
        conditions = " AND ".join(
            [
                f"{qn(cast(str, meta.pk.column))} = %s",
                *(f"{column} = %s" for column in columns[len(values) :]),
            ]
        )
        sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608  (names from the model)
        statement = _statements[key] = _Statement(sql, fields, [])
    params = []
    for field, value in zip(statement.fields, (*values.values(), *where.values()), strict=True):
        if hasattr(value, "resolve_expression"):
            raise ImproperlyConfigured("update() takes values, not expressions")
        if field.remote_field is not None and hasattr(value, "prepare_database_save"):
            value = value.prepare_database_save(field)
        params.append(field.get_db_prep_save(value, connection=connection))
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(statement.sql, [*params[: len(values)], pk, *params[len(values) :]])
        return int(cursor.rowcount)
