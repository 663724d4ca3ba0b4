"""`tessera restore_merchant FILE`: load a `backup_merchant` file into a database without that merchant.

For a fresh instance, or to move a merchant to another instance. The whole file is checked first
(format, SHA-256, row counts; a truncated or altered file is refused before anything is written), then
every row is inserted with its own primary key in one transaction: if a key, the merchant's slug or
any other unique value is already taken, nothing is written and the command says what collided. Users
and groups already present with the same id and the same name are the same rows and are kept as they
are. Permissions are matched by app label and codename. The restored merchant's ledger is verified
before the commit. The database must be on the same migrations as the one backed up.
"""

# ruff: noqa: S608  (table and column names come from the models' metadata, quoted; values are parameters)

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, connection, models, transaction

from tessera.ledger.selectors import verify_ledger
from tessera.reports.models import EntryDelta, MemberCount, MemberVisits, SaleDelta
from tessera.tenancy.management.commands.backup_merchant import (
    FORMAT,
    PERMISSION_TABLES,
    VERSION,
    _q,
    applied_migrations,
    decode,
    require_postgresql,
)
from tessera.tenancy.models import Merchant

#: Shared rows that may already be there (the same user or group): kept when id and name both match.
SHARED = {"auth_user": "username", "auth_group": "name"}
#: The reports' tables their triggers (`reports.triggers`) fill while the merchant's entries, sales,
#: refunds and members are inserted (deltas, members' visits, member counts): those rows are dropped
#: before the backup's own are restored. The backup lists the reports' tables after the ledger's, the
#: sales' and the members' (the apps' order).
TRIGGER_WRITTEN = {model._meta.db_table for model in (EntryDelta, SaleDelta, MemberVisits, MemberCount)}


class Refused(CommandError):
    pass


def lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with gzip.open(path, "rb") as gz:
            for raw in gz:
                yield json.loads(raw)
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(f"The backup file is damaged or truncated ({exc}); nothing was restored.") from exc


def check_file(path: Path) -> dict[str, Any]:
    """The header, once the whole file is proved complete and unaltered."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    counts: dict[str, int] = {}
    trailer: dict[str, Any] | None = None
    try:
        with gzip.open(path, "rb") as gz:
            for raw in gz:
                if trailer is not None:
                    raise Refused("The backup file has data after its end; nothing was restored.")
                line = json.loads(raw)
                if line.get("end"):
                    trailer = line
                    continue
                digest.update(raw)
                if header is None:
                    header = line
                elif "rows" in line:
                    counts[line["table"]] = counts.get(line["table"], 0) + len(line["rows"])
                else:
                    counts.setdefault(line["table"], 0)
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise Refused(f"The backup file is damaged or truncated ({exc}); nothing was restored.") from exc
    if header is None or header.get("format") != FORMAT:
        raise Refused("This is not a Tessera merchant backup; nothing was restored.")
    if header.get("version") != VERSION:
        raise Refused(f"Backup format version {header.get('version')} is not supported (expected {VERSION}).")
    if trailer is None:
        raise Refused("The backup file is truncated (no end marker); nothing was restored.")
    if trailer.get("sha256") != digest.hexdigest() or trailer.get("tables") != counts:
        raise Refused("The backup file does not match its checksum; nothing was restored.")
    return header


def check_schema(header: dict[str, Any]) -> None:
    here = applied_migrations()
    differs = sorted(
        app for app in set(header["migrations"]) | set(here) if header["migrations"].get(app) != here.get(app)
    )
    if differs:
        raise Refused(
            "This database is not on the migrations of the backup (apps: "
            + ", ".join(differs)
            + "); run the same Tessera version, migrated, and try again. Nothing was restored."
        )


def models_by_table() -> dict[str, type[models.Model]]:
    return {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}


def _permission_ids() -> dict[tuple[str, str], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ct.app_label, p.codename, p.id FROM auth_permission p "
            "JOIN django_content_type ct ON ct.id = p.content_type_id"
        )
        return {(app, codename): pk for app, codename, pk in cursor.fetchall()}


def _insert(table: str, columns: list[str], rows: list[list[Any]]) -> None:
    sql = (
        f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _existing(table: str, pk: str, ids: list[Any], name_column: str | None) -> dict[Any, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_q(pk)}, {_q(name_column) if name_column else 'NULL'} FROM {_q(table)} "
            f"WHERE {_q(pk)} = ANY(%s)",
            [ids],
        )
        return dict(cursor.fetchall())


def restore(path: Path) -> tuple[str, dict[str, int]]:
    """Restore the backup at `path` in one transaction; returns the merchant's slug and rows per table."""
    from psycopg.types.json import Jsonb

    header = check_file(path)
    check_schema(header)
    slug = header["merchant"]["slug"]
    if (
        Merchant.objects.filter(slug=slug).exists()
        or Merchant.objects.filter(pk=header["merchant"]["id"]).exists()
    ):
        raise Refused(f"This database already has merchant {slug!r} (or its id); nothing was restored.")
    tables = models_by_table()
    permissions = _permission_ids()
    written: dict[str, int] = {}
    touched: list[type[models.Model]] = []
    try:
        with transaction.atomic():
            declared: dict[str, Any] = {}
            for line in lines(path):
                if "format" in line or line.get("end"):
                    continue
                table = line["table"]
                if "rows" not in line:
                    if table not in tables:
                        raise Refused(f"Table {table} of the backup is unknown here; nothing was restored.")
                    declared = line
                    touched.append(tables[table])
                    if table in TRIGGER_WRITTEN:
                        with connection.cursor() as cursor:
                            cursor.execute(
                                f"DELETE FROM {_q(table)} WHERE merchant_id = %s", [header["merchant"]["id"]]
                            )
                    written[table] = 0
                    continue
                columns: list[str] = declared["columns"]
                json_at = [i for i, c in enumerate(columns) if c in declared["json_columns"]]
                rows = [[decode(v) for v in row] for row in line["rows"]]
                for row in rows:
                    for i in json_at:
                        if row[i] is not None:
                            # Django reads json(b) as its text (JSONField parses it); either way, the value.
                            row[i] = Jsonb(json.loads(row[i]) if isinstance(row[i], str) else row[i])
                if table in PERMISSION_TABLES:
                    owner = PERMISSION_TABLES[table]
                    try:
                        rows = [[row[0], permissions[(row[1], row[2])]] for row in rows]
                    except KeyError as exc:
                        raise Refused(f"Permission {exc} does not exist here; nothing was restored.") from exc
                    _insert(table, [owner, "permission_id"], rows)
                elif table in SHARED:
                    pk_at, name_at = columns.index(declared["pk"]), columns.index(SHARED[table])
                    there = _existing(table, declared["pk"], [r[pk_at] for r in rows], SHARED[table])
                    for row in rows:
                        if row[pk_at] in there and there[row[pk_at]] != row[name_at]:
                            raise Refused(
                                f"{table} id {row[pk_at]} is {there[row[pk_at]]!r} here, {row[name_at]!r} in "
                                "the backup; nothing was restored."
                            )
                    rows = [r for r in rows if r[pk_at] not in there]
                    if rows:
                        _insert(table, columns, rows)
                else:
                    pk_at = columns.index(declared["pk"])
                    taken = _existing(table, declared["pk"], [r[pk_at] for r in rows], None)
                    if taken:
                        raise Refused(
                            f"{len(taken)} rows of {table} have ids already used here (e.g. {min(taken)}); "
                            "nothing was restored."
                        )
                    _insert(table, columns, rows)
                written[table] += len(rows)
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), touched):
                    cursor.execute(sql)
            merchant = Merchant.objects.get(slug=slug)
            problems = verify_ledger(merchant)
            if problems:
                raise Refused(
                    f"The restored ledger does not verify ({len(problems)} problems, e.g. {problems[0]}); "
                    "nothing was restored."
                )
            connection.check_constraints()  # deferred foreign keys, now rather than at the commit
    except IntegrityError as exc:
        raise Refused(
            f"A row of the backup collides with this database ({exc}); nothing was restored."
        ) from exc
    except DatabaseError as exc:
        raise Refused(f"The database refused the restore ({exc}); nothing was restored.") from exc
    return slug, written


class Command(BaseCommand):
    help = "Restore one merchant from a backup_merchant file into a database that does not hold it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A file written by backup_merchant.")

    def handle(self, *args: Any, **options: Any) -> None:
        require_postgresql()
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        slug, written = restore(path)
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored merchant {slug!r}: {sum(written.values())} rows in "
                f"{sum(1 for n in written.values() if n)} tables; its ledger verifies."
            )
        )
