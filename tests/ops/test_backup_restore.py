"""Backup and restore, for real: `pg_dump`/`pg_restore` of the whole database, and one merchant moved
with `backup_merchant`/`restore_merchant` into a fresh database (docs/backup.md). PostgreSQL only."""

# ruff: noqa: S608  (table names from the models' metadata; values are parameters)

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.ledger.models import Account
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.sales import services as sales
from tessera.tenancy import services as tenancy
from tessera.tenancy.management.commands.backup_merchant import selections
from tessera.tenancy.models import Merchant
from tests.factories import MemberFactory, StoreFactory, role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="pg_dump, pg_restore and the per-merchant commands need PostgreSQL (set DATABASE_URL)",
    ),
]

BIN = Path(sys.executable).parent
PIN = "1357"


def build(merchant: Merchant, phones: list[str]) -> None:
    """A merchant in use: staff, a store, members with PINs and cards, points added by hand, sales
    confirmed by PIN (spending points), a partial refund, a void, and a pending sale holding points."""
    save_policy(merchant=merchant, pending_days=0)
    store = StoreFactory(merchant=merchant)
    admin = role(merchant, "merchant_admin")
    tenancy.add_staff(merchant=merchant, username=f"{merchant.slug}-owner", password="pw", roles=[admin])
    tenancy.create_api_key(merchant=merchant, name="Till", store=store)
    card_type = CardTypeFactory(merchant=merchant)
    batch = cards.generate_batch(merchant=merchant, card_type=card_type, quantity=len(phones) + 1)
    for phone, card in zip(phones, Card.objects.filter(batch=batch).order_by("pk"), strict=False):
        card = cards.activate_card(card=card, phone=phone)
        member = card.member
        assert member is not None
        set_member_pin(member=member, pin=PIN)
        sales.add_points(member=member, store=store, actor=None, points=500, note="paper bill")
        lines = [
            sales.SaleLine(sku="CF", name="Cà phê", quantity=3, unit_price=29_000),
            sales.SaleLine(sku="BM", name="Bánh mì", quantity=1, unit_price=25_000),
        ]
        sold = sales.create_transaction(
            merchant=merchant, store=store, member=member, card=card, lines=lines, points_to_spend=100
        )
        sales.confirm_transaction(transaction=sold, method="pin", pin=PIN)
        line = sold.lines.order_by("pk").first()
        assert line is not None
        sales.refund_transaction(transaction=sold, lines={line.pk: 1})
        voided = sales.create_transaction(merchant=merchant, store=store, member=member, lines=lines)
        sales.confirm_transaction(transaction=voided, method="pin", pin=PIN)
        sales.void_transaction(transaction=voided, reason="wrong member")
        sales.create_transaction(
            merchant=merchant, store=store, member=member, lines=lines, points_to_spend=50
        )
    MemberFactory(merchant=merchant, phone=f"{phones[0][:-3]}999")


@pytest.fixture
def two_merchants(merchant: Merchant, other_merchant: Merchant) -> tuple[Merchant, Merchant]:
    build(merchant, ["+84912000001", "+84912000002", "+84912000003"])
    build(other_merchant, ["+84913000001", "+84913000002"])
    return merchant, other_merchant


def _params() -> dict[str, str]:
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": str(s["PORT"] or 5432), "user": s["USER"] or "postgres"}


def _url(db: str) -> str:
    p = _params()
    return f"postgres://{p['user']}@{p['host']}:{p['port']}/{db}"


def _pg(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    p = _params()
    return subprocess.run(
        [tool, "-h", p["host"], "-p", p["port"], "-U", p["user"], *args], capture_output=True, text=True
    )


@pytest.fixture
def scratch_db() -> Iterator[str]:
    """An empty database, dropped afterwards."""
    name = f"tessera_restore_{uuid.uuid4().hex[:10]}"
    assert _pg("createdb", name).returncode == 0
    yield name
    _pg("dropdb", "--force", name)


def _tessera(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": _url(db), "TESSERA_ENV": "development"}
    return subprocess.run([str(BIN / "tessera"), *args], env=env, capture_output=True, text=True)


def _rows(db: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(_url(db)) as conn:
        return conn.execute(sql, params).fetchall()


def _table_counts(db: str) -> dict[str, int]:
    tables = [r[0] for r in _rows(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    with psycopg.connect(_url(db)) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]


def _balances(db: str) -> list[tuple[Any, ...]]:
    return _rows(db, "SELECT id, merchant_id, kind, balance, pending, held FROM ledger_account ORDER BY id")


def _merchant_rows(db: str, merchant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the merchant owns or needs, table by table, as `backup_merchant` selects them."""
    dumped: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(_url(db)) as conn:
        for model, where, params in selections(merchant_id):
            table = model._meta.db_table
            if table in ("auth_group_permissions", "auth_user_user_permissions"):
                continue  # permission ids differ between databases; compared by natural key below
            pk = model._meta.pk.column if model._meta.pk else "id"
            dumped[table] = conn.execute(
                f'SELECT * FROM "{table}" WHERE ({where}) ORDER BY "{pk}"', params
            ).fetchall()
        dumped["group permissions"] = conn.execute(
            "SELECT gp.group_id, ct.app_label, p.codename FROM auth_group_permissions gp "
            "JOIN auth_permission p ON p.id = gp.permission_id JOIN django_content_type ct "
            "ON ct.id = p.content_type_id JOIN tenancy_role r ON r.group_id = gp.group_id "
            "WHERE r.merchant_id = %s ORDER BY 1, 2, 3",
            [merchant_id],
        ).fetchall()
    return dumped


def _empty_instance(source: str, target: str) -> None:
    """A migrated Tessera database without data: the schema and the migration state of `source`."""
    with tempfile.TemporaryDirectory() as tmp:
        schema, state = Path(tmp) / "schema.dump", Path(tmp) / "state.dump"
        tables = ["-t", "django_migrations", "-t", "django_content_type", "-t", "auth_permission"]
        for args in (
            ["--schema-only", f"--file={schema}"],
            ["--data-only", *tables, f"--file={state}"],
        ):
            made = _pg("pg_dump", "--format=custom", "--no-owner", *args, source)
            assert made.returncode == 0, made.stderr
        for dump, extra in ((schema, []), (state, ["--disable-triggers"])):
            loaded = _pg("pg_restore", "--no-owner", "--exit-on-error", *extra, "-d", target, str(dump))
            assert loaded.returncode == 0, loaded.stderr


def test_whole_database_dump_restores_every_row_and_the_ledger_verifies(two_merchants, scratch_db, tmp_path):
    source = connection.settings_dict["NAME"]
    dump = tmp_path / "tessera.dump"
    made = _pg("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source)
    assert made.returncode == 0, made.stderr

    restored = _pg("pg_restore", "--no-owner", "--exit-on-error", "-d", scratch_db, str(dump))

    assert restored.returncode == 0, restored.stderr
    counts = _table_counts(source)
    assert counts == _table_counts(scratch_db)
    assert counts["sales_transaction"] == 15 and counts["sales_refund"] == 5 and counts["ledger_lot"] > 0
    assert _balances(source) == _balances(scratch_db)
    check = _tessera(scratch_db, "verify-ledger")
    assert check.returncode == 0, check.stderr
    assert " 0 problems." in check.stdout


def test_one_merchant_moves_to_a_fresh_database_intact_and_alone(two_merchants, scratch_db, tmp_path):
    a, b = two_merchants
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "a.tmb"
    call_command("backup_merchant", a.slug, "--out", str(backup))
    _empty_instance(source, scratch_db)

    done = _tessera(scratch_db, "restore_merchant", str(backup))

    assert done.returncode == 0, done.stderr
    assert "its ledger verifies" in done.stdout
    expected = _merchant_rows(source, a.pk)
    assert _merchant_rows(scratch_db, a.pk) == expected
    assert len(expected["members_member"]) == 4 and len(expected["sales_transaction"]) == 9
    assert len(expected["auth_user"]) >= 1 and len(expected["tenancy_role"]) >= 1
    assert _rows(scratch_db, "SELECT slug FROM tenancy_merchant") == [(a.slug,)]
    assert _rows(scratch_db, "SELECT count(*) FROM members_member WHERE merchant_id = %s", [b.pk]) == [(0,)]
    assert _rows(scratch_db, "SELECT count(*) FROM ledger_entry WHERE merchant_id <> %s", [a.pk]) == [(0,)]
    b_users = _rows(
        source,
        "SELECT username FROM auth_user u JOIN tenancy_staffmembership s ON s.user_id = u.id "
        "WHERE s.merchant_id = %s",
        [b.pk],
    )
    assert b_users and not _rows(scratch_db, "SELECT 1 FROM auth_user WHERE username = %s", [b_users[0][0]])
    check = _tessera(scratch_db, "verify-ledger")
    assert check.returncode == 0, check.stderr
    # New rows get fresh ids after the restored ones: the sequences were moved past them.
    last = max(row[0] for row in expected["ledger_entry"])
    nextval = _rows(scratch_db, "SELECT nextval(pg_get_serial_sequence('ledger_entry', 'id'))")[0][0]
    assert nextval > last


def test_a_second_merchant_joins_an_instance_that_already_has_one(two_merchants, scratch_db, tmp_path):
    a, b = two_merchants
    source = connection.settings_dict["NAME"]
    call_command("backup_merchant", a.slug, "--out", str(tmp_path / "a.tmb"))
    call_command("backup_merchant", b.slug, "--out", str(tmp_path / "b.tmb"))
    _empty_instance(source, scratch_db)
    assert _tessera(scratch_db, "restore_merchant", str(tmp_path / "b.tmb")).returncode == 0

    done = _tessera(scratch_db, "restore_merchant", str(tmp_path / "a.tmb"))

    assert done.returncode == 0, done.stderr
    assert _merchant_rows(scratch_db, a.pk) == _merchant_rows(source, a.pk)
    assert _merchant_rows(scratch_db, b.pk) == _merchant_rows(source, b.pk)
    assert _tessera(scratch_db, "verify-ledger").returncode == 0


def test_restoring_a_merchant_that_is_already_there_is_refused_and_changes_nothing(
    two_merchants, scratch_db, tmp_path
):
    a, _b = two_merchants
    backup = tmp_path / "a.tmb"
    call_command("backup_merchant", a.slug, "--out", str(backup))
    _empty_instance(connection.settings_dict["NAME"], scratch_db)
    assert _tessera(scratch_db, "restore_merchant", str(backup)).returncode == 0
    before = _table_counts(scratch_db)

    again = _tessera(scratch_db, "restore_merchant", str(backup))

    assert again.returncode != 0
    assert "already has merchant" in again.stderr and "nothing was restored" in again.stderr
    assert _table_counts(scratch_db) == before


def test_a_backup_whose_ids_are_taken_is_refused_with_nothing_written(two_merchants, scratch_db, tmp_path):
    """Another instance whose rows use the same ids: no half-restored merchant."""
    a, _b = two_merchants
    source = connection.settings_dict["NAME"]
    backup = tmp_path / "a.tmb"
    call_command("backup_merchant", a.slug, "--out", str(backup))
    _empty_instance(source, scratch_db)
    assert _tessera(scratch_db, "restore_merchant", str(tmp_path / "a.tmb")).returncode == 0
    # Rename the restored merchant: the slug is free again, but every id is taken.
    _rows_commit(
        scratch_db, "UPDATE tenancy_merchant SET slug = 'renamed', id = id + 1000 WHERE slug = %s", [a.slug]
    )
    before = _table_counts(scratch_db)

    refused = _tessera(scratch_db, "restore_merchant", str(backup))

    assert refused.returncode != 0
    assert "nothing was restored" in refused.stderr
    assert _table_counts(scratch_db) == before


def _rows_commit(db: str, sql: str, params: list[Any]) -> None:
    with psycopg.connect(_url(db)) as conn:
        conn.execute("SET session_replication_role = replica")  # skip FK triggers for the rename
        conn.execute(sql, params)


@pytest.mark.parametrize("damage", ["truncated", "altered", "not gzip"])
def test_a_damaged_backup_is_refused_with_nothing_written(two_merchants, scratch_db, tmp_path, damage):
    a, _b = two_merchants
    backup = tmp_path / "a.tmb"
    call_command("backup_merchant", a.slug, "--out", str(backup))
    raw = gzip.decompress(backup.read_bytes())
    if damage == "truncated":
        backup.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    elif damage == "altered":
        backup.write_bytes(gzip.compress(raw.replace(b"500", b"900", 1)))
    else:
        backup.write_bytes(raw[:1000])
    _empty_instance(connection.settings_dict["NAME"], scratch_db)
    before = _table_counts(scratch_db)

    refused = _tessera(scratch_db, "restore_merchant", str(backup))

    assert refused.returncode != 0
    assert "nothing was restored" in refused.stderr
    assert _table_counts(scratch_db) == before


def test_accounts_and_balances_survive_the_move(two_merchants, scratch_db, tmp_path):
    a, _b = two_merchants
    backup = tmp_path / "a.tmb"
    call_command("backup_merchant", a.slug, "--out", str(backup))
    _empty_instance(connection.settings_dict["NAME"], scratch_db)
    assert _tessera(scratch_db, "restore_merchant", str(backup)).returncode == 0

    mine = list(
        Account.objects.filter(merchant=a).order_by("pk").values_list("pk", "balance", "pending", "held")
    )
    assert mine and any(held for *_x, held in mine)
    assert _rows(scratch_db, "SELECT id, balance, pending, held FROM ledger_account ORDER BY id") == mine
