"""Ledger reads: account summary, lots, entries page by page, a user's day at the till."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.factories import StoreFactory, staff_user

from tessera.ledger import services as ledger
from tessera.ledger.selectors import (
    AccountSummary,
    DayTotals,
    ExpiringPoints,
    account_summary,
    entries_of,
    lots_of,
    totals_for_day,
)
from tessera.ledger.tests.factories import T0, days, earn, points_account

pytestmark = pytest.mark.django_db


def test_e10_account_summary_shows_spendable_pending_held_and_what_expires_soon(merchant):
    account = points_account(merchant)
    earn(account, 100, at=T0 - days(355), expires_in=365)  # expires T0 + 10 d
    earn(account, 40, at=T0 - days(200), expires_in=365)  # expires T0 + 165 d: not soon
    earn(account, 30, pending_for=7)
    earn(account, 5, at=T0 - days(400), expires_in=1)  # expired, not yet swept: not counted (issue 12)
    ledger.place_hold(account=account, amount=25, source="sale:1", now=T0)
    account.refresh_from_db()
    assert account_summary(account=account, now=T0, days=14) == AccountSummary(
        account_id=account.pk,
        kind="points",
        balance=170,
        pending=30,
        held=25,
        spendable=115,
        next_release_at=T0 + days(7),
        expiring_soon=[ExpiringPoints(expires_at=T0 + days(10), amount=100)],
    )
    # A week later the pending lot is spendable even before the release task has run.
    assert account_summary(account=account, now=T0 + days(7), days=14).spendable == 145


def test_lots_of_lists_open_lots_in_spend_order(merchant):
    account = points_account(merchant)
    never = earn(account, 10)
    soon = earn(account, 20, expires_in=5)
    spent = earn(account, 5, expires_in=1)
    ledger.debit(account=account, amount=5, now=T0)
    assert [lot.entry_id for lot in lots_of(account=account)] == [soon.pk, never.pk]
    assert [lot.entry_id for lot in lots_of(account=account, open_only=False)] == [
        spent.pk,
        soon.pk,
        never.pk,
    ]


def test_entries_of_an_account_or_member_page_by_page_newest_first(merchant, other_merchant):
    account = points_account(merchant)
    for n in range(1, 6):
        earn(account, n, at=T0 + days(n))
    earn(points_account(other_merchant), 99)
    page = entries_of(merchant=merchant, account=account, per_page=2)
    assert [e.amount for e in page] == [5, 4]
    assert page.paginator.count == 5
    assert [e.amount for e in entries_of(merchant=merchant, member=account.member, page=3, per_page=2)] == [1]
    assert entries_of(merchant=other_merchant, account=account).paginator.count == 0


def test_b2_entries_of_for_store_scoped_staff_show_only_their_stores(merchant):
    mine, theirs = StoreFactory(merchant=merchant), StoreFactory(merchant=merchant)
    account = points_account(merchant)
    earn(account, 10, store=mine)
    earn(account, 20, store=theirs)
    cashier = staff_user(merchant, "cashier", stores=[mine])
    assert [e.amount for e in entries_of(merchant=merchant, account=account, staff=cashier)] == [10]


def test_totals_for_day_count_what_one_user_added_and_deducted_in_the_stores_day(merchant):
    store = StoreFactory(merchant=merchant)  # Asia/Ho_Chi_Minh, UTC+7
    cashier = staff_user(merchant, "cashier").user
    colleague = staff_user(merchant, "cashier").user
    account = points_account(merchant)

    def add(amount: int, at: datetime, who=cashier, where=store) -> None:  # type: ignore[no-untyped-def]
        ledger.credit(account=account, amount=amount, store=where, actor=who, now=at)

    add(100, datetime(2026, 3, 1, 1, tzinfo=UTC))  # 08:00 local on 1 March
    add(50, datetime(2026, 3, 1, 16, 59, tzinfo=UTC))  # 23:59 local on 1 March
    add(7, datetime(2026, 3, 1, 17, 0, tzinfo=UTC))  # 00:00 local on 2 March: another day
    add(1000, datetime(2026, 3, 1, 2, tzinfo=UTC), who=colleague)
    add(3, datetime(2026, 3, 1, 2, tzinfo=UTC), where=StoreFactory(merchant=merchant))
    ledger.debit(
        account=account, amount=30, store=store, actor=cashier, now=datetime(2026, 3, 1, 3, tzinfo=UTC)
    )
    day = date(2026, 3, 1)
    assert totals_for_day(merchant=merchant, store=store, actor=cashier, date=day) == DayTotals(
        added=150, deducted=30, entries=3
    )
    assert totals_for_day(merchant=merchant, store=None, actor=cashier, date=day).added == 153
