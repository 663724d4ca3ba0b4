"""Exactly once under load (E11): concurrent spends never overdraw; concurrent retries act once.

PostgreSQL only: SQLite serialises every writer, so there is no race to lose there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from tessera.core.errors import DomainError
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.sales import services
from tessera.sales.models import Transaction, TransactionStatus
from tessera.sales.services import MANUAL_ADD_SOURCE, SaleLine
from tessera.sales.tests.conftest import PIN

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
]

THREADS = 20


def run_together(work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` in THREADS threads released at the same instant; results or exceptions, in order."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def runner(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_e11_twenty_concurrent_spends_never_overdraw(merchant, store, member):
    services.add_points(member=member, store=store, actor=None, points=100)

    def spend(_index: int) -> Transaction:
        sale = services.create_transaction(
            merchant=merchant,
            store=store,
            member=member,
            lines=[SaleLine(name="Trà đá", quantity=1, unit_price=1000)],
            points_to_spend=10,
        )
        return services.confirm_transaction(transaction=sale, method="pin", pin=PIN)

    results = run_together(spend)

    refused = [r for r in results if isinstance(r, DomainError)]
    assert {r.code for r in refused} == {"insufficient_balance"}
    assert len(refused) == THREADS - 10
    assert Transaction.objects.filter(status=TransactionStatus.CONFIRMED).count() == 10
    account = Account.objects.get(member=member, kind=AccountKind.POINTS)
    assert (account.balance, account.held) == (0, 0)


def test_e11_twenty_concurrent_identical_requests_make_one_entry(pos, member):
    body = {"member_id": member.pk, "points": 7, "note": "retry storm"}

    responses = run_together(lambda _i: pos.post("/points/add", body, key="storm-1"))

    assert [r.status_code for r in responses] == [201] * THREADS
    assert len({r.content for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == THREADS - 1
    assert Entry.objects.filter(source=MANUAL_ADD_SOURCE).count() == 1
    assert Account.objects.get(member=member, kind=AccountKind.POINTS).balance == 7


def test_e11_concurrent_identical_confirms_and_refunds_act_once(pos, member):
    """The point-of-sale writes claim their key after the work (issue 13): a storm of retries each does
    the work, all but one find the key taken and roll back, and every answer is the first one."""
    pos.post("/points/add", {"member_id": member.pk, "points": 500})
    lines = [{"name": "Phở", "quantity": 2, "unit_price": 50000}]
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": lines, "points_to_spend": 100}).json()

    confirms = run_together(
        lambda _i: pos.post(
            f"/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN}, key="confirm-1"
        )
    )
    assert [r.status_code for r in confirms] == [200] * THREADS, [r.content for r in confirms][:2]
    assert len({r.content for r in confirms}) == 1
    account = Account.objects.get(member=member, kind=AccountKind.POINTS)
    spent = Entry.objects.filter(account=account, amount__lt=0).count()
    assert (spent, account.held) == (1, 0)

    line_id = confirms[0].json()["lines"][0]["id"]
    body = {"lines": [{"line_id": line_id, "quantity": 1}], "reason": "storm"}
    refunds = run_together(lambda _i: pos.post(f"/transactions/{sale['id']}/refunds", body, key="refund-1"))
    assert [r.status_code for r in refunds] == [201] * THREADS, [r.content for r in refunds][:2]
    assert len({r.content for r in refunds}) == 1
    assert Transaction.objects.get(pk=sale["id"]).refunds.count() == 1


def test_e9_refunds_racing_each_other_and_earns_lock_the_sale_and_account_together(pos, member, merchant):
    """Void and refund lock the sale and the member's points account in one statement (issue 13); what
    they read after it (lines with their refunds, the lots) is never older than a refund or an earn
    committed while the lock waited: no line is refunded twice, the ledger and the reports agree."""
    from tessera.ledger.selectors import verify_ledger
    from tessera.reports.aggregates import compact, rebuild
    from tessera.reports.tests.test_aggregates import tables

    lines = [{"name": "Trà", "quantity": 5, "unit_price": 40000}]
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": lines}).json()
    confirmed = pos.post(f"/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN}).json()
    line = {"line_id": confirmed["lines"][0]["id"], "quantity": 1}

    def work(i: int) -> Any:
        if i % 4 == 0:
            return pos.post("/points/add", {"member_id": member.pk, "points": 7})
        return pos.post(f"/transactions/{sale['id']}/refunds", {"lines": [line], "reason": f"race {i}"})

    answers = run_together(work)

    refunds = [a for i, a in enumerate(answers) if i % 4]
    assert sorted(a.status_code for a in refunds).count(201) == 5, [a.content for a in refunds][:3]
    assert {a.json()["code"] for a in refunds if a.status_code != 201} <= {"refund_exceeds_quantity"}
    assert all(a.status_code == 201 for i, a in enumerate(answers) if i % 4 == 0)
    refunded = Transaction.objects.get(pk=sale["id"]).refunds.all()
    assert sum(r.amount for r in refunded) == 5 * 40000
    assert sum(r.points_reversed for r in refunded) == confirmed["points_earned"]
    assert verify_ledger(merchant) == []
    compact()
    kept = tables(merchant)
    rebuild(merchant=merchant)
    assert tables(merchant) == kept


def test_issue15_twenty_racing_transfers_from_one_member_never_overdraw(merchant, store, member):
    from tests.factories import MemberFactory

    friend = MemberFactory(merchant=merchant, phone="+84912000111")
    services.add_points(member=member, store=store, actor=None, points=100)

    results = run_together(
        lambda _i: services.transfer_points(
            source=member, target=friend, points=10, reason="race", actor=None, store=store
        )
    )

    refused = [r for r in results if isinstance(r, Exception)]
    assert {getattr(r, "code", repr(r)) for r in refused} == {"insufficient_balance"}
    assert len(refused) == THREADS - 10
    giver = Account.objects.get(member=member, kind=AccountKind.POINTS)
    taker = Account.objects.get(member=friend, kind=AccountKind.POINTS)
    assert (giver.balance, taker.balance) == (0, 100)


def test_issue15_opposite_transfers_do_not_deadlock(merchant, store, member):
    """Both accounts are locked in key order, so A→B and B→A racing never deadlock; nothing is lost."""
    from tests.factories import MemberFactory

    friend = MemberFactory(merchant=merchant, phone="+84912000111")
    services.add_points(member=member, store=store, actor=None, points=100)
    services.add_points(member=friend, store=store, actor=None, points=100)

    def move(index: int) -> Any:
        source, target = (member, friend) if index % 2 else (friend, member)
        return services.transfer_points(
            source=source, target=target, points=5, reason="race", actor=None, store=store
        )

    results = run_together(move)

    assert [r for r in results if isinstance(r, Exception)] == []
    balances = Account.objects.filter(kind=AccountKind.POINTS, member__in=[member, friend])
    assert sorted(a.balance for a in balances) == [100, 100]
