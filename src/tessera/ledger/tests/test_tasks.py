"""Scheduled ledger work (E10): release pending points, expire points, note coming expiries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, Entry, EntryKind, ExpiryNotice, LotUse
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.tasks import expire_points, record_expiry_notices, release_pending
from tessera.ledger.tests.factories import T0, days, earn, points_account, remaining_by_lot

pytestmark = pytest.mark.django_db


def balances(account: Account) -> tuple[int, int, int]:
    account.refresh_from_db()
    return account.balance, account.pending, account.held


def test_e10_release_pending_releases_lots_whose_window_has_passed(merchant):
    first, second = points_account(merchant), points_account(merchant)
    earn(first, 100, pending_for=7)
    earn(first, 30, pending_for=14)
    earn(second, 50, pending_for=3)
    assert release_pending(T0 + days(2)) == 0
    assert release_pending(T0 + days(7), chunk_size=1) == 150
    assert balances(first) == (130, 30, 0)
    assert balances(second) == (50, 0, 0)
    assert release_pending(T0 + days(7)) == 0  # a re-run finds nothing to do
    ledger.debit(account=first, amount=100, now=T0 + days(8))
    assert verify_ledger(merchant) == []


def test_e10_expire_points_writes_one_expire_entry_per_account(merchant):
    account = points_account(merchant)
    earn(account, 100, at=T0 - days(400), expires_in=365)  # expired 35 days ago
    earn(account, 40, at=T0 - days(380), expires_in=365)  # expired 15 days ago
    earn(account, 60, at=T0 - days(10), expires_in=365)
    other = points_account(merchant)
    earn(other, 25, at=T0 - days(400), expires_in=365)
    ledger.debit(account=account, amount=10, now=T0 - days(5))  # from the one live lot
    assert expire_points(T0, chunk_size=1) == 165
    [entry] = Entry.objects.filter(account=account, kind=EntryKind.EXPIRE)
    assert (entry.amount, entry.balance_after, entry.occurred_at) == (-140, 50, T0)
    assert sorted(LotUse.objects.filter(entry=entry).values_list("amount", flat=True)) == [-100, -40]
    assert remaining_by_lot(account) == [0, 0, 50]
    assert balances(account) == (50, 0, 0)
    assert balances(other) == (0, 0, 0)
    assert expire_points(T0) == 0
    assert Entry.objects.filter(kind=EntryKind.EXPIRE).count() == 2
    assert verify_ledger(merchant) == []


def test_e10_a_pending_lot_that_expires_leaves_pending_too(merchant):
    account = points_account(merchant)
    earn(account, 80, pending_for=30, expires_in=10)
    assert expire_points(T0 + days(11)) == 80
    assert balances(account) == (0, 0, 0)
    assert verify_ledger(merchant) == []


def test_e10_points_held_by_a_pending_sale_expire_on_the_next_run(merchant):
    account = points_account(merchant)
    earn(account, 100, expires_in=5)
    hold = ledger.place_hold(account=account, amount=60, source="sale:1", now=T0)
    assert expire_points(T0 + days(6)) == 0
    assert balances(account) == (100, 0, 60)
    ledger.release_hold(hold=hold)
    assert expire_points(T0 + days(6)) == 100
    assert balances(account) == (0, 0, 0)


def test_e10_members_are_told_once_per_expiry_day_within_the_notice_window(merchant):
    account = points_account(merchant)  # merchant in Asia/Ho_Chi_Minh (UTC+7)
    earn(account, 100, at=T0 - days(355), expires_in=365)  # expires T0 + 10 d, 10:00 UTC = 17:00 local
    # Same local day (T0 + 10 d, 23:00 local), another lot: one notice for 130 points.
    ledger.credit(
        account=account, amount=30, now=T0 - days(300), expires_at=datetime(2026, 3, 11, 16, tzinfo=UTC)
    )
    earn(account, 50, at=T0 - days(340), expires_in=365)  # T0 + 25 d: outside a 14-day window
    assert record_expiry_notices(T0, days=14) == 1
    notice = ExpiryNotice.objects.get(account=account)
    assert (notice.amount, notice.expires_at, notice.merchant_id) == (130, T0 + days(10), merchant.pk)
    assert record_expiry_notices(T0 + days(1), days=14) == 0  # the next night: already noted
    assert record_expiry_notices(T0 + days(12), days=14) == 1  # now the 50 points come into the window
    assert sorted(ExpiryNotice.objects.values_list("amount", flat=True)) == [50, 130]


def test_e10_the_notice_window_defaults_to_the_setting(merchant, settings):
    settings.TESSERA_EXPIRY_NOTICE_DAYS = 3
    account = points_account(merchant)
    earn(account, 10, expires_in=5)
    assert record_expiry_notices(T0) == 0
    assert record_expiry_notices(T0 + days(2)) == 1
