"""The reports' deltas are written by the database (issue 13): whatever writes the row, in the statement
that writes it, and the triggers survive SQLite's table rebuilds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import connection
from tests.factories import MemberFactory, MerchantFactory, StoreFactory

from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.reports import triggers
from tessera.reports.apps import _reinstall_on_sqlite
from tessera.reports.models import EntryDelta

pytestmark = pytest.mark.django_db


def test_an_entry_inserted_by_any_code_gets_its_delta_on_its_local_day():
    """16:30 UTC is 23:30 in Ho Chi Minh City and 01:30 the next day in Tokyo: the store's zone counts."""
    merchant = MerchantFactory(time_zone="Asia/Ho_Chi_Minh")
    store = StoreFactory(merchant=merchant, time_zone="Asia/Tokyo")
    account = Account.objects.create(
        merchant=merchant, member=MemberFactory(merchant=merchant), kind=AccountKind.POINTS, balance=7
    )
    at = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    entry = Entry.objects.create(
        merchant=merchant,
        account=account,
        kind=EntryKind.EARN,
        amount=7,
        balance_after=7,
        store=store,
        occurred_at=at,
        sale_amount=70000,
    )
    other = Entry.objects.create(
        merchant=merchant,
        account=account,
        kind=EntryKind.REVERSAL,
        amount=-2,
        balance_after=5,
        occurred_at=at,
        reverses=entry,
    )

    deltas = {
        d.entry_id: (
            d.day.isoformat(),
            d.store_id,
            d.account_kind,
            d.kind,
            d.reversed_kind,
            d.amount,
            d.sale_amount,
        )
        for d in EntryDelta.objects.filter(merchant=merchant)
    }
    assert deltas == {
        entry.pk: ("2026-03-02", store.pk, "points", "earn", "", 7, 70000),
        other.pk: ("2026-03-01", 0, "points", "reversal", "earn", -2, 0),  # no store: the merchant's zone
    }


def test_the_triggers_come_back_after_a_migration_rebuilt_the_tables():
    assert triggers.installed(connection)
    if connection.vendor != "sqlite":
        return  # PostgreSQL keeps a table's triggers when a migration alters it
    triggers.uninstall(connection)  # as a rebuild of ledger_entry by another app's migration would
    assert not triggers.installed(connection)

    _reinstall_on_sqlite(sender=apps.get_app_config("reports"), using="default")

    assert triggers.installed(connection)
