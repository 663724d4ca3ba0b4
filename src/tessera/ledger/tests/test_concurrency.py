"""E11 under real concurrency on PostgreSQL: many tills spending from one account at the same moment.

Each test commits for real (transaction=True), so the workers see each other's rows and locks."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.db.models import Sum
from tests.factories import MemberFactory

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, Hold, HoldStatus
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.tests.factories import T0, earn, points_account

WORKERS = 24
BALANCE = 1000
AMOUNT = 70  # 1000 // 70 = 14 spends succeed, 10 are refused

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency are tested on PostgreSQL")


def funded_account(merchant) -> Account:  # type: ignore[no-untyped-def]
    """1,000 points in ten lots with different expiries, so every spend walks several lots."""
    account = points_account(merchant)
    for n in range(10):
        earn(account, BALANCE // 10, expires_in=30 + (7 * n) % 10)
    return account


def in_threads(work: Callable[[], str], n: int = WORKERS) -> list[str]:
    """Run `work` in `n` threads released at the same instant; each has its own connection."""
    barrier = threading.Barrier(n)
    results: list[str] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(work())
        except Exception as error:
            results.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def spend(account_id: int) -> str:
    try:
        ledger.debit(account=Account.objects.get(pk=account_id), amount=AMOUNT, now=T0)
    except ledger.InsufficientBalance:
        return "refused"
    return "spent"


def assert_exactly_the_affordable_spends_happened(account: Account, results: list[str]) -> None:
    assert sorted(results) == ["refused"] * (WORKERS - BALANCE // AMOUNT) + ["spent"] * (BALANCE // AMOUNT)
    account.refresh_from_db()
    assert account.balance == BALANCE - (BALANCE // AMOUNT) * AMOUNT == 20
    assert Entry.objects.filter(account=account).aggregate(total=Sum("amount"))["total"] == account.balance
    assert verify_ledger() == []


def test_e11_twenty_four_threads_spending_at_once_never_overdraw(merchant):
    account = funded_account(merchant)
    results = in_threads(lambda: spend(account.pk))
    assert_exactly_the_affordable_spends_happened(account, results)


def _spend_in_child(
    account_id: int, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue
) -> None:
    try:
        start.wait()
        out.put(spend(account_id))
    except Exception as error:
        out.put(repr(error))
    finally:
        connections.close_all()


def test_e11_twenty_four_processes_spending_at_once_never_overdraw(merchant):
    account = funded_account(merchant)
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    connections.close_all()  # each child opens its own connection to the test database
    children = [
        context.Process(target=_spend_in_child, args=(account.pk, start, out)) for _ in range(WORKERS)
    ]
    for child in children:
        child.start()
    start.set()
    results = [out.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0] * WORKERS
    assert_exactly_the_affordable_spends_happened(account, results)


def test_e2_concurrent_holds_never_reserve_more_than_is_spendable(merchant):
    account = funded_account(merchant)

    def hold() -> str:
        try:
            ledger.place_hold(
                account=Account.objects.get(pk=account.pk), amount=AMOUNT, source="sale", now=T0
            )
        except ledger.InsufficientBalance:
            return "refused"
        return "held"

    results = in_threads(hold)
    assert (
        results.count("held") == BALANCE // AMOUNT and results.count("refused") == WORKERS - BALANCE // AMOUNT
    )
    account.refresh_from_db()
    assert (account.balance, account.held) == (BALANCE, 980)
    assert Hold.objects.filter(account=account, status=HoldStatus.ACTIVE).count() == 14

    # Then the pending sales settle at once: odd holds are confirmed, even ones voided.
    holds = iter(Hold.objects.filter(account=account).order_by("pk"))
    lock = threading.Lock()

    def settle() -> str:
        with lock:
            hold = next(holds)
        if hold.pk % 2:
            ledger.capture_hold(hold=hold, now=T0)
            return "captured"
        ledger.release_hold(hold=hold)
        return "released"

    results = in_threads(settle, n=14)
    assert sorted(set(results)) <= ["captured", "released"] and len(results) == 14
    account.refresh_from_db()
    assert (account.balance, account.held) == (BALANCE - AMOUNT * results.count("captured"), 0)
    assert verify_ledger() == []


def test_e11_concurrent_first_use_opens_one_account_per_member(merchant):
    member = MemberFactory(merchant=merchant)
    results = in_threads(
        lambda: str(ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member).pk)
    )
    assert len(set(results)) == 1
    assert Account.objects.filter(member=member).count() == 1
