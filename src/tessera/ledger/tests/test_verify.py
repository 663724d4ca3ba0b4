"""`verify_ledger` and `tessera verify-ledger` prove the cached counters agree with entries and lots."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, Entry, EntryKind, Lot
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.tests.factories import T0, earn, points_account

pytestmark = pytest.mark.django_db


def busy_account(merchant):  # type: ignore[no-untyped-def]
    account = points_account(merchant)
    earn(account, 100, expires_in=30)
    earn(account, 50, pending_for=7)
    spend = ledger.debit(account=account, amount=60, now=T0)
    ledger.reverse(entry=spend, amount=10, now=T0)
    ledger.place_hold(account=account, amount=20, source="sale:1", now=T0)
    return account


def codes(problems) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.code for p in problems}


def test_a_ledger_written_through_the_services_is_clean(merchant):
    busy_account(merchant)
    assert verify_ledger() == []


def test_a_balance_changed_behind_the_ledgers_back_is_found(merchant):
    account = busy_account(merchant)
    Account.objects.filter(pk=account.pk).update(balance=account.balance + 5)
    [*problems] = verify_ledger(merchant)
    assert codes(problems) == {"balance_not_sum_of_entries", "balance_not_sum_of_lots"}
    first = next(p for p in problems if p.code == "balance_not_sum_of_entries")
    assert (first.account_id, first.expected, first.found) == (account.pk, 100, 105)


def test_pending_and_held_that_disagree_with_lots_and_holds_are_found(merchant):
    account = busy_account(merchant)
    Account.objects.filter(pk=account.pk).update(pending=0, held=0)
    problems = verify_ledger(merchant)
    assert codes(problems) == {"pending_not_sum_of_unreleased_lots", "held_not_sum_of_active_holds"}
    assert {(p.code, p.expected, p.found) for p in problems} == {
        ("pending_not_sum_of_unreleased_lots", 50, 0),
        ("held_not_sum_of_active_holds", 20, 0),
    }


def test_a_lot_changed_without_a_lot_use_is_found(merchant):
    account = busy_account(merchant)
    lot = Lot.objects.filter(account=account).order_by("pk").first()
    Lot.objects.filter(pk=lot.pk).update(remaining=lot.remaining - 1)
    assert codes(verify_ledger(merchant)) == {"balance_not_sum_of_lots", "lot_remaining_not_amount_plus_uses"}


def test_a_wrong_balance_after_and_an_entry_without_lots_are_found(merchant):
    account = busy_account(merchant)
    # Written straight to the table: an entry whose balance_after is off and that moved no lot.
    Entry.objects.create(
        merchant=merchant, account=account, kind=EntryKind.ADJUST, amount=5, balance_after=7, occurred_at=T0
    )
    problems = verify_ledger(merchant)
    assert "balance_after_not_running_sum" in codes(problems)
    assert "entry_amount_not_its_lot_movements" in codes(problems)
    wrong = next(p for p in problems if p.code == "balance_after_not_running_sum")
    assert (wrong.expected, wrong.found) == (105, 7)


def test_verify_ledger_of_one_merchant_ignores_the_others(merchant, other_merchant):
    busy_account(merchant)
    broken = busy_account(other_merchant)
    Account.objects.filter(pk=broken.pk).update(balance=0, pending=0, held=0)
    assert verify_ledger(merchant) == []
    assert {p.account_id for p in verify_ledger()} == {broken.pk}


def test_the_command_prints_a_summary_and_succeeds_on_a_clean_ledger(merchant):
    busy_account(merchant)
    out = StringIO()
    call_command("verify_ledger", "--merchant", merchant.slug, stdout=out)
    assert "Checked 1 accounts, 4 entries, 2 open lots, 1 active holds: 0 problems." in out.getvalue()


def test_the_command_fails_with_the_problems_listed(merchant, other_merchant):
    account = busy_account(merchant)
    busy_account(other_merchant)
    Account.objects.filter(pk=account.pk).update(held=0)
    err = StringIO()
    with pytest.raises(CommandError, match="1 problems") as caught:
        call_command("verify_ledger", stderr=err)
    assert caught.value.returncode == 1
    assert f"held_not_sum_of_active_holds (account {account.pk}): expected 20, found 0" in err.getvalue()
    call_command("verify_ledger", "--merchant", other_merchant.slug, stdout=StringIO())


def test_the_command_refuses_an_unknown_merchant(db):
    with pytest.raises(CommandError, match="No merchant"):
        call_command("verify_ledger", "--merchant", "nobody")
