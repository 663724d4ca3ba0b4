"""The daily tables kept by the hooks and the compaction equal a recomputation from the raw tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import MemberFactory, MerchantFactory, StoreFactory

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.ledger.services import InsufficientBalance
from tessera.ledger.tasks import expire_points
from tessera.reports.aggregates import compact, rebuild
from tessera.reports.models import EntryDelta, LedgerDay, LotFlowDay, SaleDelta, SalesDay
from tessera.tenancy.models import Merchant

#: 16:30 UTC is 23:30 in Ho Chi Minh City: steps of 20 minutes cross the local midnight.
T0 = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)


def tables(merchant: Merchant) -> dict[str, Any]:
    def rows(model: Any, measures: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[int, ...]]:
        keys = [f.name for f in model._meta.get_fields() if f.name not in ("id", "merchant", *measures)]
        found: dict[tuple[Any, ...], tuple[int, ...]] = {}
        for row in model.objects.filter(merchant=merchant).values(*keys, *measures):
            values = tuple(row[m] for m in measures)
            if any(values):
                found[tuple(row[k] for k in keys)] = values
        return found

    return {
        "ledger": rows(LedgerDay, ("credit", "debit", "entries", "sale_amount")),
        "flows": rows(LotFlowDay, ("amount",)),
        "sales": rows(SalesDay, ("sales", "amount", "discount", "refunds", "refunded")),
    }


operation = st.tuples(
    st.sampled_from(["earn", "spend", "reverse", "top_up", "pay", "expire", "replace"]),
    st.integers(0, 2),  # store (2: no store)
    st.integers(0, 1),  # member
    st.integers(1, 500),  # amount
)


@pytest.mark.django_db
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25), fold_every=st.integers(1, 6))
def test_aggregates_equal_the_rebuild_whatever_happens(
    operations: list[tuple[str, int, int, int]], fold_every: int
) -> None:
    merchant = MerchantFactory()
    stores = [StoreFactory(merchant=merchant), StoreFactory(merchant=merchant, time_zone="Asia/Tokyo"), None]
    members = [MemberFactory(merchant=merchant) for _ in range(2)]
    accounts = {
        (m, kind): ledger.open_account(merchant=merchant, kind=kind, member=member)
        for m, member in enumerate(members)
        for kind in (AccountKind.POINTS, AccountKind.STORED_VALUE)
    }
    written: list[Entry] = []
    now = T0
    for step, (op, s, m, amount) in enumerate(operations):
        now += timedelta(minutes=20)
        store = stores[s]
        points, value = accounts[(m, AccountKind.POINTS)], accounts[(m, AccountKind.STORED_VALUE)]
        try:
            if op == "earn":
                written.append(
                    ledger.credit(
                        account=points,
                        amount=amount,
                        store=store,
                        now=now,
                        expires_at=now + timedelta(hours=1),
                    )
                )
            elif op == "top_up":
                written.append(
                    ledger.credit(account=value, amount=amount, kind=EntryKind.TOP_UP, store=store, now=now)
                )
            elif op == "spend":
                written.append(ledger.debit(account=points, amount=amount, store=store, now=now))
            elif op == "pay":
                written.append(ledger.debit(account=value, amount=amount, store=store, now=now))
            elif op == "reverse" and written:
                ledger.reverse(entry=written[amount % len(written)], amount=amount, store=store, now=now)
            elif op == "expire":
                expire_points(now)
            elif op == "replace":
                target = ledger.open_account(merchant=merchant, kind=AccountKind.STORED_VALUE)
                if ledger.transfer(source_account=value, target_account=target, now=now):
                    accounts[(m, AccountKind.STORED_VALUE)] = target
        except InsufficientBalance:
            pass
        if step % fold_every == 0:
            compact(batch=3)
    compact()
    assert not EntryDelta.objects.filter(merchant=merchant).exists()
    kept = tables(merchant)
    rebuild(merchant=merchant)
    assert tables(merchant) == kept
    # J7's ground truth: the lot flows add up to the balances.
    outstanding = sum(v[0] for v in kept["flows"].values())
    assert outstanding == sum(Account.objects.filter(merchant=merchant).values_list("balance", flat=True))


def test_compaction_folds_each_delta_once(merchant: Merchant) -> None:
    store = StoreFactory(merchant=merchant)
    account = ledger.open_account(
        merchant=merchant, kind=AccountKind.POINTS, member=MemberFactory(merchant=merchant)
    )
    for n in range(7):
        ledger.credit(account=account, amount=10 + n, store=store, now=T0)
    assert EntryDelta.objects.filter(merchant=merchant).count() == 7
    compact(batch=3)
    compact(batch=3)
    assert not EntryDelta.objects.exists() and not SaleDelta.objects.exists()
    day = LedgerDay.objects.get(merchant=merchant)
    assert (day.day.isoformat(), day.credit, day.entries) == ("2026-03-01", 91, 7)
