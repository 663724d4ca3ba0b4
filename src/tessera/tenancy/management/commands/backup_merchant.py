"""`tessera backup_merchant <slug> --out FILE`: one merchant's data, restorable with `restore_merchant`.

A consistent snapshot (one REPEATABLE READ, READ ONLY transaction) of every row the merchant owns —
every table with a `merchant_id` (history tables included), the merchant itself, its staff memberships'
stores and its members' tags — plus the shared rows they need: the Django groups behind its roles (with
their permissions by app label and codename, since permission ids differ between databases) and the
users its rows point to (its staff, and whoever created or changed its rows), their group memberships.

The file is gzip-compressed JSON lines: a header (format, merchant, applied migrations, media files the
rows name), then per table a declaration and chunks of rows, then a trailer with the row count of
every table and the SHA-256 of everything before it, so a truncated or altered file is refused before
anything is written. Not included: the admin's log, sessions, login attempts (axes), and the media
files themselves (copy the paths listed in the header from `MEDIA_ROOT`). PostgreSQL only.
"""

# ruff: noqa: S608  (table and column names come from the models' metadata, quoted; values are parameters)

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from tessera.tenancy.models import Merchant

FORMAT = "tessera-merchant-backup"
VERSION = 1
CHUNK = 1000
JSON_TYPES = {114, 3802}  # PostgreSQL type OIDs of json and jsonb

#: Through tables whose rows carry a permission id: written with the permission's natural key instead.
PERMISSION_TABLES = {"auth_group_permissions": "group_id", "auth_user_user_permissions": "user_id"}


def encode(value: Any) -> Any:
    """A column value as JSON; types JSON lacks are tagged, so `decode` gives back the same value."""
    if isinstance(value, dt.datetime):
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$": "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$": "uuid", "v": str(value)}
    if isinstance(value, bytes | memoryview):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict) and "$" in value:
        kind, v = value["$"], value["v"]
        if kind == "datetime":
            return dt.datetime.fromisoformat(v)
        if kind == "date":
            return dt.date.fromisoformat(v)
        if kind == "time":
            return dt.time.fromisoformat(v)
        if kind == "timedelta":
            return dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
        if kind == "decimal":
            return Decimal(v)
        if kind == "uuid":
            return uuid.UUID(v)
        if kind == "bytes":
            return base64.b64decode(v)
        raise ValueError(f"unknown value tag {kind!r}")
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise CommandError("Per-merchant backup and restore need PostgreSQL.")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def selections(merchant_id: int) -> list[tuple[type[models.Model], str, list[Any]]]:
    """(model, WHERE clause, parameters) for every table holding the merchant's rows, in a stable order.
    Shared rows (groups, users) come last: they are chosen by what the merchant's rows point to."""
    chosen: list[tuple[type[models.Model], str, list[Any]]] = []
    user_model = get_user_model()
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        columns = {f.column for f in model._meta.concrete_fields}
        if model is Merchant or table == "tenancy_historicalmerchant":
            chosen.append((model, "id = %s", [merchant_id]))
        elif "merchant_id" in columns:
            chosen.append((model, "merchant_id = %s", [merchant_id]))
        elif table == "tenancy_staffmembership_stores":
            chosen.append(
                (
                    model,
                    "staffmembership_id IN (SELECT id FROM tenancy_staffmembership WHERE merchant_id = %s)",
                    [merchant_id],
                )
            )
        elif table == "tenancy_historicalstaffmembership_stores":
            chosen.append(
                (
                    model,
                    "history_id IN (SELECT history_id FROM tenancy_historicalstaffmembership "
                    "WHERE merchant_id = %s)",
                    [merchant_id],
                )
            )
        elif table == "members_member_tags":
            chosen.append(
                (model, "member_id IN (SELECT id FROM members_member WHERE merchant_id = %s)", [merchant_id])
            )
    chosen.sort(key=lambda c: c[0]._meta.db_table)
    own = list(chosen)

    groups = "id IN (SELECT group_id FROM tenancy_role WHERE merchant_id = %s)"
    group_model = apps.get_model("auth", "Group")
    chosen.append((group_model, groups, [merchant_id]))
    chosen.append(
        (
            group_model.permissions.through,
            "group_id IN (SELECT group_id FROM tenancy_role WHERE merchant_id = %s)",
            [merchant_id],
        )
    )
    user_ids = sorted(referenced_users(own))
    chosen.append((user_model, "id = ANY(%s)", [user_ids]))
    chosen.append(
        (
            user_model.groups.through,
            "user_id = ANY(%s) AND group_id IN (SELECT group_id FROM tenancy_role WHERE merchant_id = %s)",
            [user_ids, merchant_id],
        )
    )
    chosen.append((user_model.user_permissions.through, "user_id = ANY(%s)", [user_ids]))
    return chosen


def referenced_users(own: list[tuple[type[models.Model], str, list[Any]]]) -> set[int]:
    user_model = get_user_model()
    ids: set[int] = set()
    with connection.cursor() as cursor:
        for model, where, params in own:
            for f in model._meta.concrete_fields:
                if f.is_relation and f.related_model is user_model:
                    column = _q(str(f.column))
                    cursor.execute(
                        f"SELECT DISTINCT {column} FROM {_q(model._meta.db_table)} "
                        f"WHERE ({where}) AND {column} IS NOT NULL",
                        params,
                    )
                    ids.update(row[0] for row in cursor.fetchall())
    return ids


def media_files(own: list[tuple[type[models.Model], str, list[Any]]]) -> list[str]:
    names: set[str] = set()
    with connection.cursor() as cursor:
        for model, where, params in own:
            for f in model._meta.concrete_fields:
                if isinstance(f, models.FileField):
                    column = _q(str(f.column))
                    cursor.execute(
                        f"SELECT DISTINCT {column} FROM {_q(model._meta.db_table)} "
                        f"WHERE ({where}) AND {column} <> ''",
                        params,
                    )
                    names.update(row[0] for row in cursor.fetchall())
    return sorted(names)


def table_lines(model: type[models.Model], where: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    table = model._meta.db_table
    pk = str(model._meta.pk.column) if model._meta.pk else "id"
    if table in PERMISSION_TABLES:
        owner = PERMISSION_TABLES[table]
        sql = (
            f"SELECT t.{_q(owner)}, ct.app_label, p.codename FROM {_q(table)} t "
            f"JOIN auth_permission p ON p.id = t.permission_id "
            f"JOIN django_content_type ct ON ct.id = p.content_type_id WHERE ({where}) ORDER BY t.id"
        )
        columns = [owner, "app_label", "codename"]
        json_columns: list[str] = []
    else:
        sql = f"SELECT * FROM {_q(table)} WHERE ({where}) ORDER BY {_q(pk)}"
        columns, json_columns = [], []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not columns:
            columns = [c.name for c in cursor.description]
            json_columns = [c.name for c in cursor.description if c.type_code in JSON_TYPES]
        yield {"table": table, "pk": pk, "columns": columns, "json_columns": json_columns}
        while rows := cursor.fetchmany(CHUNK):
            yield {"table": table, "rows": [[encode(v) for v in row] for row in rows]}


def write_backup(merchant: Merchant, out: IO[bytes]) -> dict[str, int]:
    """Write the merchant's backup to `out` (a binary file); returns rows per table."""
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    with gzip.GzipFile(fileobj=out, mode="wb") as gz, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        chosen = selections(merchant.pk)

        def emit(line: dict[str, Any]) -> None:
            data = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            digest.update(data)
            gz.write(data)

        emit(
            {
                "format": FORMAT,
                "version": VERSION,
                "merchant": {"id": merchant.pk, "slug": merchant.slug, "name": merchant.name},
                "created_at": timezone.now().isoformat(),
                "migrations": applied_migrations(),
                "media_files": media_files(
                    [c for c in chosen if c[0]._meta.db_table.split("_")[0] != "auth"]
                ),
            }
        )
        for model, where, params in chosen:
            table = model._meta.db_table
            counts[table] = 0
            for line in table_lines(model, where, params):
                counts[table] += len(line.get("rows", []))
                emit(line)
        trailer = {"end": True, "tables": counts, "sha256": digest.hexdigest()}
        gz.write(json.dumps(trailer, separators=(",", ":")).encode() + b"\n")
    return counts


class Command(BaseCommand):
    help = "Back up one merchant's data to a file that restore_merchant can load into another database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The merchant's slug.")
        parser.add_argument("--out", required=True, help="The file to write (gzip-compressed JSON lines).")

    def handle(self, *args: Any, **options: Any) -> None:
        require_postgresql()
        merchant = Merchant.objects.filter(slug=options["slug"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with slug {options['slug']!r}.")
        path = Path(options["out"])
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            counts = write_backup(merchant, out)
        partial.replace(path)  # never leave a half-written file under the final name
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up merchant {merchant.slug!r}: {sum(counts.values())} rows in "
                f"{sum(1 for n in counts.values() if n)} tables to {path}."
            )
        )
