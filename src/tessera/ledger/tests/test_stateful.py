"""Random sequences of everything the ledger does, checked by `verify_ledger` after every step (E9–E11).

Each example runs in its own savepoint, rolled back at the end, on a clock that only moves forward."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tessera.core.errors import Conflict
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, Entry, EntryKind, Hold, HoldStatus
from tessera.ledger.selectors import account_summary, verify_ledger, with_live_balances
from tessera.ledger.tasks import expire_points, release_pending
from tessera.ledger.tests.factories import T0, days, points_account
from tessera.tenancy.models import Merchant

pytestmark = pytest.mark.django_db

ACCOUNT = st.integers(0, 1)
AMOUNT = st.integers(1, 100)


class LedgerMachine(RuleBasedStateMachine):
    merchant: Merchant

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        self.now: datetime = T0
        self.accounts: list[Account] = []

    @initialize()
    def open_accounts(self) -> None:
        self.accounts = [points_account(self.merchant) for _ in range(2)]

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self.savepoint.__exit__(None, None, None)

    def spendable(self, account: Account) -> int:
        account.refresh_from_db()
        return account_summary(account=account, now=self.now).spendable

    @rule(
        i=ACCOUNT,
        amount=AMOUNT,
        kind=st.sampled_from([EntryKind.EARN, EntryKind.BONUS, EntryKind.ADJUST, EntryKind.TOP_UP]),
        expires_in=st.none() | st.integers(1, 60),
        pending_for=st.none() | st.integers(1, 10),
    )
    def credit(
        self, i: int, amount: int, kind: EntryKind, expires_in: int | None, pending_for: int | None
    ) -> None:
        ledger.credit(
            account=self.accounts[i],
            amount=amount,
            kind=kind,
            now=self.now,
            expires_at=self.now + days(expires_in) if expires_in else None,
            available_at=self.now + days(pending_for) if pending_for else None,
        )

    @rule(i=ACCOUNT, amount=AMOUNT, kind=st.sampled_from([EntryKind.SPEND, EntryKind.ADJUST]))
    def debit(self, i: int, amount: int, kind: EntryKind) -> None:
        account = self.accounts[i]
        spendable = self.spendable(account)
        try:
            ledger.debit(account=account, amount=amount, kind=kind, now=self.now)
        except ledger.InsufficientBalance as refused:
            assert amount > spendable == refused.detail["spendable"]
        else:
            assert amount <= spendable
            assert self.spendable(account) == spendable - amount

    @rule(i=ACCOUNT, amount=AMOUNT)
    def hold(self, i: int, amount: int) -> None:
        account = self.accounts[i]
        spendable = self.spendable(account)
        try:
            ledger.place_hold(account=account, amount=amount, source="sale", now=self.now)
        except ledger.InsufficientBalance:
            assert amount > spendable
        else:
            assert amount <= spendable

    @rule(data=st.data(), capture=st.booleans())
    def settle_hold(self, data: st.DataObject, capture: bool) -> None:
        active = list(Hold.objects.filter(account__in=self.accounts, status=HoldStatus.ACTIVE).order_by("pk"))
        if not active:
            return
        hold = data.draw(st.sampled_from(active))
        if capture:
            # Refused only when its units expired while it was held; the hold then stays active.
            with contextlib.suppress(ledger.InsufficientBalance):
                ledger.capture_hold(hold=hold, now=self.now)
        else:
            ledger.release_hold(hold=hold)

    @rule(data=st.data(), partial=st.none() | AMOUNT)
    def reverse(self, data: st.DataObject, partial: int | None) -> None:
        entries = list(
            Entry.objects.filter(account__in=self.accounts)
            .exclude(kind__in=[EntryKind.REVERSAL, EntryKind.TRANSFER])
            .order_by("pk")
        )
        if not entries:
            return
        entry = data.draw(st.sampled_from(entries))
        before = abs(sum(Entry.objects.filter(reverses=entry).values_list("amount", flat=True)))
        reversal = ledger.reverse(entry=entry, amount=partial, now=self.now)
        after = abs(sum(Entry.objects.filter(reverses=entry).values_list("amount", flat=True)))
        assert after <= abs(entry.amount)
        if reversal is not None:
            assert after - before == abs(reversal.amount) <= (partial or abs(entry.amount))

    @rule(source=ACCOUNT, to=ACCOUNT)
    def transfer(self, source: int, to: int) -> None:
        if source == to:
            return
        try:
            ledger.transfer(
                source_account=self.accounts[source], target_account=self.accounts[to], now=self.now
            )
        except Conflict as refused:
            assert refused.code == "account_has_holds"

    @rule(n=st.integers(1, 20))
    def nightly(self, n: int) -> None:
        self.now += days(n)
        release_pending(self.now, chunk_size=2)
        expire_points(self.now, chunk_size=2)

    @rule(n=st.integers(1, 20))
    def time_passes(self, n: int) -> None:
        """The clock moves on without the nightly jobs: lots lapse and fall due unswept (issue 12)."""
        self.now += days(n)

    @invariant()
    def shown_balances_count_only_what_can_be_used_now(self) -> None:
        """issue 12, E10: the live counters agree with the lots themselves at this instant, swept or not."""
        accounts = with_live_balances(
            Account.objects.filter(pk__in=[a.pk for a in self.accounts]), now=self.now
        )
        for account in accounts:
            alive = [
                lot
                for lot in account.lots.filter(remaining__gt=0)
                if lot.expires_at is None or lot.expires_at > self.now
            ]
            usable = sum(lot.remaining for lot in alive if lot.released or lot.available_at <= self.now)
            assert account.live_balance == sum(lot.remaining for lot in alive)
            assert account.live_pending == sum(lot.remaining for lot in alive) - usable
            assert account.spendable == max(usable - account.held, 0)

    @invariant()
    def ledger_is_clean(self) -> None:
        assert verify_ledger(self.merchant) == []
        for account in Account.objects.filter(pk__in=[a.pk for a in self.accounts]):
            assert account.balance >= account.pending + account.held >= 0


def test_e9_e10_e11_random_ledger_histories_always_verify_clean(merchant):
    LedgerMachine.merchant = merchant
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
