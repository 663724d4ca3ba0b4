"""Scheduled ledger work (E10): release pending points, expire points, note expiries to announce.

The nightly run of the last two is `tessera.points.tasks.nightly_expiry` (the notice's lead time is
each merchant's points policy); the hourly release is here.

Each job walks the accounts that have something to do in primary-key order, a chunk at a time; a
chunk is one transaction that locks its accounts (in key order, like every service) so a spend at the
till waits a moment rather than racing the job. Nothing is loaded beyond one chunk, and every job can
be re-run: what it already did no longer matches its filter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.ledger.models import Account, Entry, EntryKind, ExpiryNotice, Lot, LotUse
from tessera.ledger.selectors import expiry_notice_days
from tessera.ledger.signals import entries_written
from tessera.tenancy.models import Merchant

CHUNK = 500


def _account_chunks(lots: QuerySet[Lot], chunk_size: int) -> Iterator[list[int]]:
    """Ids of the accounts owning `lots`, ascending, `chunk_size` at a time."""
    last = 0
    while True:
        ids = list(
            lots.filter(account_id__gt=last)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk_size]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def _lock_accounts(ids: list[int]) -> dict[int, Account]:
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def release_pending(now: datetime | None = None, *, chunk_size: int = CHUNK) -> int:
    """Release every lot whose return window has passed; returns how many units became available."""
    now = now or timezone.now()
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


def expire_points(now: datetime | None = None, *, chunk_size: int = CHUNK) -> int:
    """Expire every lot past its expiry date: one EXPIRE entry per account. Returns the units expired.

    An account whose expiring units are held by a pending sale is left for the next run, when the
    sale is confirmed or voided: expiring them now would leave the hold uncovered."""
    now = now or timezone.now()
    expired_lots = Lot.objects.filter(remaining__gt=0, expires_at__lte=now)
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
            Entry.objects.bulk_create(entries)  # sets pk on PostgreSQL and SQLite >= 3.35
            entries_written.send(sender=Entry, entries=entries)
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


def record_expiry_notices(
    now: datetime | None = None,
    days: int | None = None,
    *,
    merchant_ids: list[int] | None = None,
    chunk_size: int = CHUNK,
) -> int:
    """Note, once per account and expiry day (merchant's calendar), the points expiring within `days`
    (of the merchants `merchant_ids`, or all). Each merchant's lead time is its points policy's: the
    nightly job (`tessera.points.tasks`) calls this once per lead time.

    The marketing app sends the notices and sets `sent_at`. Returns how many notices were created."""
    now = now or timezone.now()
    days = expiry_notice_days() if days is None else days
    horizon = now + timedelta(days=days)
    expiring = Lot.objects.filter(remaining__gt=0, expires_at__gt=now, expires_at__lte=horizon)
    if merchant_ids is not None:
        expiring = expiring.filter(merchant_id__in=merchant_ids)
    zones: dict[int, ZoneInfo] = {}
    created = 0
    for ids in _account_chunks(expiring, chunk_size):
        groups: dict[tuple[int, date], list[int]] = {}
        earliest: dict[tuple[int, date], datetime] = {}
        merchant_of: dict[int, int] = {}
        for account_id, merchant_id, expires_at, remaining in expiring.filter(account_id__in=ids).values_list(
            "account_id", "merchant_id", "expires_at", "remaining"
        ):
            key = (account_id, _local_day(expires_at, merchant_id, zones))
            groups.setdefault(key, []).append(remaining)
            earliest[key] = min(earliest.get(key, expires_at), expires_at)
            merchant_of[account_id] = merchant_id
        # A day already announced is skipped even if its earliest lot was spent since (no second notice).
        known = {
            (account_id, _local_day(expires_at, merchant_id, zones))
            for account_id, merchant_id, expires_at in ExpiryNotice.objects.filter(
                account_id__in=ids,
                expires_at__gt=now - timedelta(days=1),
                expires_at__lte=horizon + timedelta(days=1),
            ).values_list("account_id", "merchant_id", "expires_at")
        }
        notices = [
            ExpiryNotice(
                merchant_id=merchant_of[account_id],
                account_id=account_id,
                amount=sum(amounts),
                expires_at=earliest[(account_id, day)],
            )
            for (account_id, day), amounts in groups.items()
            if (account_id, day) not in known
        ]
        ExpiryNotice.objects.bulk_create(notices, ignore_conflicts=True)
        created += len(notices)
    return created


def _local_day(moment: datetime, merchant_id: int, zones: dict[int, ZoneInfo]) -> date:
    if merchant_id not in zones:
        zones[merchant_id] = Merchant.objects.get(pk=merchant_id).tz
    return moment.astimezone(zones[merchant_id]).date()


@db_periodic_task(crontab(minute="5"))
def release_pending_hourly() -> None:
    """Return windows end at any hour; spends release due lots themselves, summaries wait for this."""
    release_pending()
