"""The ledger's write rules (DESIGN "The ledger"; E9, E10, E11, B3), with concrete numbers."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import translation
from tests.factories import MemberFactory, StoreFactory, staff_user

from tessera.core.errors import Conflict, ValidationFailed
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, HoldStatus, Lot, LotUse
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.tests.factories import T0, days, earn, points_account, remaining_by_lot

pytestmark = pytest.mark.django_db


def balances(account: Account) -> tuple[int, int, int]:
    account.refresh_from_db()
    return account.balance, account.pending, account.held


# --- accounts ---------------------------------------------------------------------------------------


def test_open_account_returns_the_members_one_account_of_each_kind(merchant):
    member = MemberFactory(merchant=merchant)
    points = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    again = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    value = ledger.open_account(merchant=merchant, kind=AccountKind.STORED_VALUE, member=member)
    assert again.pk == points.pk
    assert value.pk != points.pk
    assert Account.objects.filter(member=member).count() == 2


def test_a_second_account_of_the_same_kind_for_a_member_is_refused_by_the_database(merchant):
    account = points_account(merchant)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(merchant=merchant, member=account.member, kind=AccountKind.POINTS)


def test_unowned_accounts_for_card_families_are_always_new(merchant):
    first = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS)
    second = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS)
    assert first.pk != second.pk and first.member is None


def test_open_account_refuses_another_merchants_member(merchant, other_merchant):
    stranger = MemberFactory(merchant=other_merchant)
    with pytest.raises(ValidationFailed) as caught:
        ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=stranger)
    assert caught.value.code == "member_of_other_merchant"


# --- credit and debit --------------------------------------------------------------------------------


def test_e4_credit_adds_a_lot_and_an_entry_stamped_with_who_and_where(merchant):
    account = points_account(merchant)
    store = StoreFactory(merchant=merchant)
    cashier = staff_user(merchant, "cashier").user
    entry = ledger.credit(
        account=account, amount=120, store=store, actor=cashier, source="sale:7", sale_amount=240_000, now=T0
    )
    assert (entry.kind, entry.amount, entry.balance_after) == (EntryKind.EARN, 120, 120)
    assert (entry.store, entry.created_by, entry.source, entry.sale_amount) == (
        store,
        cashier,
        "sale:7",
        240_000,
    )
    assert entry.occurred_at == T0
    lot = Lot.objects.get(entry=entry)
    assert (lot.amount, lot.remaining, lot.released, lot.earned_at, lot.available_at) == (
        120,
        120,
        True,
        T0,
        T0,
    )
    assert balances(account) == (120, 0, 0)
    assert account.balance == 120  # the caller's instance is brought up to date too


def test_e4_debit_takes_value_and_records_balance_after(merchant):
    account = points_account(merchant)
    earn(account, 500)
    entry = ledger.debit(account=account, amount=180, reason="gift", now=T0)
    assert (entry.kind, entry.amount, entry.balance_after, entry.reason) == (
        EntryKind.SPEND,
        -180,
        320,
        "gift",
    )
    assert balances(account) == (320, 0, 0)
    assert verify_ledger(merchant) == []


def test_e11_debit_beyond_the_balance_is_refused_and_changes_nothing(merchant):
    account = points_account(merchant)
    earn(account, 100)
    with pytest.raises(ledger.InsufficientBalance) as caught:
        ledger.debit(account=account, amount=101, now=T0)
    assert caught.value.code == "insufficient_balance"
    assert caught.value.detail == {"spendable": 100, "requested": 101}
    assert balances(account) == (100, 0, 0)
    assert Entry.objects.filter(account=account).count() == 1


@pytest.mark.parametrize("amount", [0, -5, 2.5, True])
def test_amounts_must_be_positive_whole_numbers(merchant, amount):
    account = points_account(merchant)
    with pytest.raises(ValidationFailed):
        ledger.credit(account=account, amount=amount)
    with pytest.raises(ValidationFailed):
        ledger.debit(account=account, amount=amount)


def test_a_store_of_another_merchant_is_refused(merchant, other_merchant):
    account = points_account(merchant)
    with pytest.raises(ValidationFailed) as caught:
        ledger.credit(account=account, amount=10, store=StoreFactory(merchant=other_merchant))
    assert caught.value.code == "store_of_other_merchant"
    assert Entry.objects.count() == 0


def test_reversal_and_transfer_kinds_are_not_written_by_credit_or_debit(merchant):
    account = points_account(merchant)
    with pytest.raises(ValidationFailed):
        ledger.credit(account=account, amount=10, kind=EntryKind.REVERSAL)


# --- lots: first-expiring first (E10) ---------------------------------------------------------------


def test_e10_spend_consumes_lots_first_expiring_first_never_expiring_last(merchant):
    account = points_account(merchant)
    forever = earn(account, 100, at=T0 - days(30))  # no expiry
    late = earn(account, 100, at=T0 - days(20), expires_in=300)  # expires T0 + 280 d
    soon = earn(account, 100, at=T0 - days(10), expires_in=40)  # expires T0 + 30 d
    spend = ledger.debit(account=account, amount=150, now=T0)
    assert remaining_by_lot(account) == [100, 50, 0]  # forever, late, soon
    uses = {use.lot.entry_id: use.amount for use in LotUse.objects.filter(entry=spend).select_related("lot")}
    assert uses == {soon.pk: -100, late.pk: -50}
    ledger.debit(account=account, amount=120, now=T0)
    assert remaining_by_lot(account) == [30, 0, 0]
    assert forever.lots.get().remaining == 30


def test_e10_lots_expiring_together_are_spent_oldest_earned_first(merchant):
    account = points_account(merchant)
    expiry = T0 + days(90)
    newer = ledger.credit(account=account, amount=40, now=T0 - days(1), expires_at=expiry)
    older = ledger.credit(account=account, amount=40, now=T0 - days(5), expires_at=expiry)
    ledger.debit(account=account, amount=50, now=T0)
    assert older.lots.get().remaining == 0
    assert newer.lots.get().remaining == 30


def test_e10_expired_lots_not_yet_swept_are_never_spent(merchant):
    account = points_account(merchant)
    earn(account, 100, at=T0 - days(40), expires_in=30)  # expired 10 days ago, still in the balance
    earn(account, 60, at=T0)
    assert account.balance == 160
    with pytest.raises(ledger.InsufficientBalance) as caught:
        ledger.debit(account=account, amount=61, now=T0)
    assert caught.value.detail["spendable"] == 60
    ledger.debit(account=account, amount=60, now=T0)
    assert remaining_by_lot(account) == [100, 0]


def test_e10_pending_points_are_not_spendable_until_released(merchant):
    account = points_account(merchant)
    earn(account, 200, at=T0, pending_for=7)
    assert balances(account) == (200, 200, 0)
    assert account.lots.get().released is False
    with pytest.raises(ledger.InsufficientBalance):
        ledger.debit(account=account, amount=1, now=T0 + days(6))
    # Once the window has passed a spend releases the lot itself, without waiting for the nightly task.
    ledger.debit(account=account, amount=150, now=T0 + days(7))
    assert balances(account) == (50, 0, 0)
    assert account.lots.get().released is True
    assert verify_ledger(merchant) == []


# --- holds -------------------------------------------------------------------------------------------


def test_e2_a_hold_reserves_value_until_captured(merchant):
    account = points_account(merchant)
    earn(account, 300)
    hold = ledger.place_hold(account=account, amount=200, source="sale:1", now=T0)
    assert balances(account) == (300, 0, 200)
    with pytest.raises(ledger.InsufficientBalance) as caught:
        ledger.debit(account=account, amount=101, now=T0)
    assert caught.value.detail["spendable"] == 100
    entry = ledger.capture_hold(hold=hold, now=T0)
    assert (entry.kind, entry.amount, entry.balance_after, entry.source) == (
        EntryKind.SPEND,
        -200,
        100,
        "sale:1",
    )
    hold.refresh_from_db()
    assert (hold.status, hold.captured_entry_id) == (HoldStatus.CAPTURED, entry.pk)
    assert balances(account) == (100, 0, 0)
    assert ledger.capture_hold(hold=hold, now=T0).pk == entry.pk  # a retried confirm spends once
    assert Entry.objects.filter(account=account).count() == 2
    assert verify_ledger(merchant) == []


def test_e2_a_released_hold_gives_value_back_and_release_is_idempotent(merchant):
    account = points_account(merchant)
    earn(account, 300)
    hold = ledger.place_hold(account=account, amount=250, source="sale:2", now=T0)
    with pytest.raises(ledger.InsufficientBalance):
        ledger.place_hold(account=account, amount=51, source="sale:3", now=T0)
    ledger.release_hold(hold=hold)
    ledger.release_hold(hold=hold)
    assert hold.status == HoldStatus.RELEASED
    assert balances(account) == (300, 0, 0)
    with pytest.raises(Conflict) as caught:
        ledger.capture_hold(hold=hold)
    assert caught.value.code == "hold_released"


def test_a_captured_hold_cannot_be_released(merchant):
    account = points_account(merchant)
    earn(account, 50)
    hold = ledger.place_hold(account=account, amount=50, source="sale:4", now=T0)
    ledger.capture_hold(hold=hold, now=T0)
    with pytest.raises(Conflict) as caught:
        ledger.release_hold(hold=hold)
    assert caught.value.code == "hold_captured"
    assert balances(account) == (0, 0, 0)


# --- reversal (E9) -----------------------------------------------------------------------------------


def test_e9_reversing_a_spend_gives_back_to_exactly_the_lots_it_drew_from(merchant):
    account = points_account(merchant)
    earn(account, 100, expires_in=30)
    earn(account, 100, expires_in=60)
    earn(account, 100)  # untouched by the spend
    spend = ledger.debit(account=account, amount=150, source="sale:9", now=T0)
    assert remaining_by_lot(account) == [0, 50, 100]
    reversal = ledger.reverse(entry=spend, now=T0)
    assert reversal is not None
    assert (reversal.kind, reversal.amount, reversal.balance_after, reversal.reverses) == (
        EntryKind.REVERSAL,
        150,
        300,
        spend,
    )
    assert reversal.source == "sale:9"
    assert remaining_by_lot(account) == [100, 100, 100]
    assert ledger.reverse(entry=spend, now=T0) is None  # nothing left to reverse
    assert balances(account) == (300, 0, 0)
    assert verify_ledger(merchant) == []


def test_e9_partial_reversals_of_a_spend_refill_the_last_drawn_lot_first_and_never_exceed_it(merchant):
    account = points_account(merchant)
    earn(account, 100, expires_in=30)
    earn(account, 100, expires_in=60)
    spend = ledger.debit(account=account, amount=150, now=T0)  # 100 from lot 1, 50 from lot 2
    first = ledger.reverse(entry=spend, amount=30, now=T0)
    assert first is not None and first.amount == 30
    assert remaining_by_lot(account) == [0, 80]
    second = ledger.reverse(entry=spend, amount=60, now=T0)
    assert second is not None and second.amount == 60
    assert remaining_by_lot(account) == [40, 100]
    third = ledger.reverse(entry=spend, amount=500, now=T0)  # only 60 are left unreversed
    assert third is not None and third.amount == 60
    assert remaining_by_lot(account) == [100, 100]
    assert ledger.reverse(entry=spend, now=T0) is None
    assert balances(account) == (200, 0, 0)
    assert verify_ledger(merchant) == []


def test_e9_reversing_an_unspent_earn_takes_back_its_own_lot(merchant):
    account = points_account(merchant)
    earn(account, 70, expires_in=10)
    earned = earn(account, 100, expires_in=90)
    reversal = ledger.reverse(entry=earned, amount=40, now=T0)
    assert reversal is not None and reversal.amount == -40
    assert remaining_by_lot(account) == [70, 60]  # not the other, earlier-expiring lot
    assert reversal.shortfall == 0


def test_e9_reversing_a_partly_spent_earn_takes_the_rest_from_other_lots_never_below_zero(merchant):
    account = points_account(merchant)
    earned = earn(account, 100, expires_in=10)
    earn(account, 30, expires_in=90)
    ledger.debit(account=account, amount=110, now=T0)  # lot 1 emptied, lot 2 has 20
    assert balances(account) == (20, 0, 0)
    reversal = ledger.reverse(entry=earned, reason="refund", now=T0)
    assert reversal is not None
    assert (reversal.amount, reversal.balance_after) == (-20, 0)
    assert reversal.shortfall == 80
    # The shortfall is kept as an argument and told in the reader's language (issue 13 item 1).
    assert (reversal.reason, reversal.reason_args) == ("refund", {"shortfall": 80})
    with translation.override("vi"):
        assert reversal.description == "refund (Không thể thu hồi 80: đã được sử dụng.)"
    with translation.override("en"):
        assert reversal.description == "refund (80 could not be taken back: already spent.)"
    assert remaining_by_lot(account) == [0, 0]
    # What could not be taken stays unreversed: nothing to take now, so nothing is written.
    assert ledger.reverse(entry=earned, now=T0) is None
    earn(account, 50)
    later = ledger.reverse(entry=earned, now=T0)
    assert later is not None and later.amount == -50
    assert verify_ledger(merchant) == []


def test_e9_reversing_an_earn_leaves_what_a_pending_sale_holds(merchant):
    account = points_account(merchant)
    earned = earn(account, 100)
    ledger.place_hold(account=account, amount=70, source="sale:5", now=T0)
    reversal = ledger.reverse(entry=earned, now=T0)
    assert reversal is not None and reversal.amount == -30
    assert balances(account) == (70, 0, 70)


def test_e9_reversing_a_pending_earn_takes_it_back_from_pending(merchant):
    account = points_account(merchant)
    earned = earn(account, 100, pending_for=14)
    ledger.reverse(entry=earned, now=T0 + days(1))
    assert balances(account) == (0, 0, 0)
    assert verify_ledger(merchant) == []


def test_e9_a_reversal_with_nothing_to_take_still_keeps_released_lots_counted_right(merchant):
    account = points_account(merchant)
    earned = earn(account, 100)
    ledger.debit(account=account, amount=100, now=T0)
    earn(account, 50, pending_for=7, expires_in=5)  # due and expired by day 8: released, not spendable
    assert ledger.reverse(entry=earned, now=T0 + days(8)) is None
    assert balances(account) == (50, 0, 0)
    assert verify_ledger(merchant) == []


def test_reversals_and_transfers_cannot_themselves_be_reversed(merchant):
    account = points_account(merchant)
    earned = earn(account, 100)
    reversal = ledger.reverse(entry=earned, amount=10, now=T0)
    with pytest.raises(Conflict) as caught:
        ledger.reverse(entry=reversal)
    assert caught.value.code == "not_reversible"


# --- transfer ----------------------------------------------------------------------------------------


def test_d_transfer_moves_every_open_lot_with_its_dates_and_pending_state(merchant):
    old = points_account(merchant)
    new = points_account(merchant)
    a = earn(old, 100, at=T0 - days(50), expires_in=100)
    earn(old, 40, at=T0 - days(2), pending_for=7)
    earn(old, 10, at=T0 - days(40), expires_in=30)  # expired, not yet swept: moves too
    ledger.debit(account=old, amount=30, now=T0)
    earn(new, 5)
    out, into = ledger.transfer(source_account=old, target_account=new, reason="lost card", now=T0)
    assert (out.kind, out.amount, out.balance_after, out.source) == (
        EntryKind.TRANSFER,
        -120,
        0,
        f"account:{new.pk}",
    )
    assert (into.kind, into.amount, into.balance_after, into.source) == (
        EntryKind.TRANSFER,
        120,
        125,
        f"account:{old.pk}",
    )
    assert balances(old) == (0, 0, 0)
    assert balances(new) == (125, 40, 0)
    moved = {
        (lot.amount, lot.earned_at, lot.available_at, lot.expires_at, lot.released) for lot in into.lots.all()
    }
    assert moved == {
        (70, T0 - days(50), T0 - days(50), T0 + days(50), True),
        (40, T0 - days(2), T0 + days(5), None, False),
        (10, T0 - days(40), T0 - days(40), T0 - days(10), True),
    }
    assert a.lots.get().remaining == 0
    assert ledger.transfer(source_account=old, target_account=new, now=T0) is None
    assert verify_ledger(merchant) == []


def test_transfer_refuses_an_account_with_value_on_hold(merchant):
    old, new = points_account(merchant), points_account(merchant)
    earn(old, 100)
    ledger.place_hold(account=old, amount=10, source="sale:6", now=T0)
    with pytest.raises(Conflict) as caught:
        ledger.transfer(source_account=old, target_account=new, now=T0)
    assert caught.value.code == "account_has_holds"
    assert balances(old) == (100, 0, 10)


def test_transfer_never_crosses_merchants_or_kinds(merchant, other_merchant):
    mine = points_account(merchant)
    theirs = points_account(other_merchant)
    value = ledger.open_account(merchant=merchant, kind=AccountKind.STORED_VALUE, member=mine.member)
    earn(mine, 100)
    with pytest.raises(ValidationFailed):
        ledger.transfer(source_account=mine, target_account=theirs)
    with pytest.raises(ValidationFailed):
        ledger.transfer(source_account=mine, target_account=value)
    assert balances(mine) == (100, 0, 0)


# --- append-only -------------------------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted_through_the_model(merchant):
    account = points_account(merchant)
    entry = earn(account, 10)
    entry.amount = 1_000
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()


def test_the_database_refuses_raw_updates_and_deletes_of_entries_on_postgresql(merchant):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    account = points_account(merchant)
    entry = earn(account, 10)
    for sql in (
        "UPDATE ledger_entry SET amount = 1000 WHERE id = %s",
        "DELETE FROM ledger_entry WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    assert Entry.objects.get(pk=entry.pk).amount == 10


def test_the_database_refuses_an_overdraft_written_behind_the_services_back(merchant):
    account = points_account(merchant)
    earn(account, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(held=11)
