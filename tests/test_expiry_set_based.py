"""Issue 16: the nightly expiry, set-based per chunk, writes exactly the rows the per-row code wrote.

`_expire_points_per_row` below is the code `tessera.ledger.tasks.expire_points` replaced (one `Entry`
and `LotUse` object per account and lot, `bulk_update` of the accounts), kept as the oracle: both run
on the same mixed data — several accounts in two merchants, released and pending lots, an account with
two expired lots, an account whose expiring units a pending sale holds (skipped) — the first inside a
transaction rolled back, and every row they write is compared, the reports' deltas included.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest
from django.db import transaction
from django.db.models import QuerySet

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, Entry, EntryKind, Lot, LotUse
from tessera.ledger.selectors import verify_ledger
from tessera.ledger.signals import entries_written
from tessera.ledger.tasks import _account_chunks, expire_points, release_pending
from tessera.ledger.tests.factories import T0, days, earn, points_account
from tessera.reports.models import EntryDelta

pytestmark = pytest.mark.django_db(transaction=False)

NOW = T0 + days(11)


def _lock_accounts(ids: list[int]) -> dict[int, Account]:
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def _expire_points_per_row(now: datetime, *, chunk_size: int) -> int:
    """The per-row expiry as it was before issue 16 (the oracle)."""
    expired_lots: QuerySet[Lot] = Lot.objects.filter(remaining__gt=0, expires_at__lte=now)
    expired = 0
    for ids in _account_chunks(expired_lots, chunk_size):
        with transaction.atomic():
            accounts = _lock_accounts(ids)
            by_account: dict[int, list[tuple[int, int, bool]]] = defaultdict(list)
            for pk, account_id, remaining, lot_released in expired_lots.filter(
                account_id__in=ids
            ).values_list("pk", "account_id", "remaining", "released"):
                by_account[account_id].append((pk, remaining, lot_released))
            entries: list[Entry] = []
            changed: list[Account] = []
            for account_id, lots in by_account.items():
                account = accounts[account_id]
                total = sum(r for _pk, r, _rel in lots)
                pending = sum(r for _pk, r, rel in lots if not rel)
                if account.balance - total < account.pending - pending + account.held:
                    continue
                account.balance -= total
                account.pending -= pending
                account.updated_at = now
                changed.append(account)
                entries.append(
                    Entry(
                        merchant_id=account.merchant_id,
                        account=account,
                        kind=EntryKind.EXPIRE,
                        amount=-total,
                        balance_after=account.balance,
                        occurred_at=now,
                    )
                )
                expired += total
            if not entries:
                continue
            Entry.objects.bulk_create(entries)
            entry_of = {e.account_id: e for e in entries}
            LotUse.objects.bulk_create(
                LotUse(merchant_id=entry_of[a].merchant_id, entry=entry_of[a], lot_id=pk, amount=-r)
                for a, lots in by_account.items()
                if a in entry_of
                for pk, r, _rel in lots
            )
            Lot.objects.filter(pk__in=[pk for a in entry_of for pk, _r, _rel in by_account[a]]).update(
                remaining=0, updated_at=now
            )
            Account.objects.bulk_update(changed, ["balance", "pending", "updated_at"])
    return expired


def _mixed(merchant: Any, other_merchant: Any) -> dict[str, Account]:
    two_lots = points_account(merchant)  # two expired lots, a live one partly spent
    earn(two_lots, 100, at=T0 - days(400), expires_in=365)
    earn(two_lots, 40, at=T0 - days(380), expires_in=365)
    earn(two_lots, 60, at=T0 - days(10), expires_in=365)
    ledger.debit(account=two_lots, amount=10, now=T0 - days(5))
    pending = points_account(merchant)  # an unreleased lot that expires, and a released one
    earn(pending, 80, at=T0, pending_for=30, expires_in=10)
    earn(pending, 20, at=T0 - days(400), expires_in=365)
    still_pending = points_account(merchant)  # a pending lot that stays, a released one that expires
    earn(still_pending, 30, at=T0, pending_for=30)
    earn(still_pending, 70, at=T0 - days(400), expires_in=365)
    held = points_account(merchant)  # its expiring units are held by a pending sale: skipped
    earn(held, 100, at=T0, expires_in=5)
    ledger.place_hold(account=held, amount=60, source="sale:1", now=T0)
    live = points_account(merchant)  # nothing expires
    earn(live, 50, at=T0, expires_in=365)
    elsewhere = points_account(other_merchant)
    earn(elsewhere, 25, at=T0 - days(400), expires_in=365)
    return {
        "two_lots": two_lots,
        "pending": pending,
        "still_pending": still_pending,
        "held": held,
        "live": live,
        "elsewhere": elsewhere,
    }


def _written() -> dict[str, Any]:
    """Every row expiry writes or changes, without the ids a rolled-back run may not reuse."""
    expire = Entry.objects.filter(kind=EntryKind.EXPIRE)
    return {
        "entries": sorted(
            expire.values_list(
                "account_id",
                "merchant_id",
                "kind",
                "amount",
                "balance_after",
                "store_id",
                "source",
                "reason_code",
                "reason_args",
                "reason",
                "reverses_id",
                "sale_amount",
                "occurred_at",
                "created_by_id",
                "updated_by_id",
            )
        ),
        "lot_uses": sorted(
            LotUse.objects.filter(entry__kind=EntryKind.EXPIRE).values_list(
                "merchant_id", "entry__account_id", "lot_id", "amount"
            )
        ),
        "lots": sorted(Lot.objects.values_list("pk", "remaining", "released", "updated_at")),
        "accounts": sorted(Account.objects.values_list("pk", "balance", "pending", "held", "updated_at")),
        "deltas": sorted(
            (row[0], entry_account[row[1]], *row[2:])
            for entry_account in [dict(expire.values_list("pk", "account_id"))]
            for row in EntryDelta.objects.filter(kind=EntryKind.EXPIRE).values_list(
                "merchant_id",
                "entry_id",
                "day",
                "store_id",
                "account_kind",
                "kind",
                "reversed_kind",
                "actor_id",
                "amount",
                "sale_amount",
            )
        ),
    }


class _RolledBack(Exception):
    pass


def test_issue_16_set_based_expiry_writes_the_rows_the_per_row_code_wrote(merchant, other_merchant):
    accounts = _mixed(merchant, other_merchant)
    before = _written()
    try:
        with transaction.atomic():
            oracle_units = _expire_points_per_row(NOW, chunk_size=2)
            oracle = _written()
            raise _RolledBack
    except _RolledBack:
        pass
    assert _written() == before

    assert expire_points(NOW, chunk_size=2) == oracle_units == 140 + 100 + 70 + 25
    after = _written()
    assert after == oracle
    assert len(after["entries"]) == 4 and len(after["lot_uses"]) == 6 and len(after["deltas"]) == 4
    held = accounts["held"]
    assert not Entry.objects.filter(account=held, kind=EntryKind.EXPIRE).exists()
    held.refresh_from_db()
    assert (held.balance, held.pending, held.held) == (100, 0, 60)
    still_pending = accounts["still_pending"]
    still_pending.refresh_from_db()
    assert (still_pending.balance, still_pending.pending) == (30, 30)

    assert expire_points(NOW, chunk_size=2) == 0  # a re-run does nothing
    assert _written() == after
    assert verify_ledger(merchant) == [] and verify_ledger(other_merchant) == []


def test_issue_16_entries_written_is_sent_with_the_saved_entries_when_listened_to(merchant):
    account = points_account(merchant)
    earn(account, 100, at=T0 - days(400), expires_in=365)
    earn(account, 40, at=T0 - days(380), expires_in=365)
    seen: list[tuple[int, int, int, int]] = []

    def listener(sender: Any, entries: list[Entry], **kwargs: Any) -> None:
        seen.extend((e.pk, e.account.pk, e.amount, e.balance_after) for e in entries)

    entries_written.connect(listener, sender=Entry)
    try:
        assert expire_points(NOW) == 140
    finally:
        entries_written.disconnect(listener, sender=Entry)
    entry = Entry.objects.get(kind=EntryKind.EXPIRE)
    assert seen == [(entry.pk, account.pk, -140, 0)]


def _release_pending_per_row(now: datetime, *, chunk_size: int) -> int:
    """The per-row release as it was before issue 16 (the oracle)."""
    due = Lot.objects.filter(released=False, available_at__lte=now)
    released = 0
    for ids in _account_chunks(due, chunk_size):
        with transaction.atomic():
            accounts = _lock_accounts(ids)
            lots = list(due.filter(account_id__in=ids).values_list("pk", "account_id", "remaining"))
            for _pk, account_id, remaining in lots:
                accounts[account_id].pending -= remaining
                released += remaining
            Lot.objects.filter(pk__in=[pk for pk, _a, _r in lots]).update(released=True, updated_at=now)
            Account.objects.bulk_update(accounts.values(), ["pending"])
    return released


def test_issue_16_set_based_release_writes_the_rows_the_per_row_code_wrote(merchant, other_merchant):
    two_due = points_account(merchant)  # two lots due, one not yet, one released already
    earn(two_due, 100, pending_for=7)
    earn(two_due, 30, pending_for=9)
    earn(two_due, 45, pending_for=30)
    earn(two_due, 20)
    partly_spent = points_account(merchant)  # a due lot beside a released one partly spent
    earn(partly_spent, 80, pending_for=5)
    earn(partly_spent, 50)
    ledger.debit(account=partly_spent, amount=30, now=T0 + days(1))
    not_due = points_account(merchant)
    earn(not_due, 60, pending_for=30)
    elsewhere = points_account(other_merchant)
    earn(elsewhere, 25, pending_for=2)
    now = T0 + days(10)

    def written() -> dict[str, Any]:
        return {
            "lots": sorted(Lot.objects.values_list("pk", "remaining", "released", "updated_at")),
            "accounts": sorted(Account.objects.values_list("pk", "balance", "pending", "held", "updated_at")),
        }

    before = written()
    try:
        with transaction.atomic():
            oracle_units = _release_pending_per_row(now, chunk_size=2)
            oracle = written()
            raise _RolledBack
    except _RolledBack:
        pass
    assert written() == before

    assert release_pending(now, chunk_size=2) == oracle_units == 100 + 30 + 80 + 25
    assert written() == oracle != before
    assert release_pending(now, chunk_size=2) == 0  # a re-run does nothing
    assert written() == oracle
    assert verify_ledger(merchant) == [] and verify_ledger(other_merchant) == []
