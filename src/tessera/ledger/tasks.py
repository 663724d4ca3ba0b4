"""Scheduled ledger work (E10): release pending points, expire points, note expiries to announce.

The nightly run of the last two is `tessera.points.tasks.nightly_expiry` (the notice's lead time is
each merchant's points policy); the hourly release is here.

Each job walks the accounts that have something to do in primary-key order, a chunk at a time; a
chunk is one transaction that locks its accounts (in key order, like every service) so a spend at the
till waits a moment rather than racing the job. Nothing is loaded beyond one chunk, and every job can
be re-run: what it already did no longer matches its filter.
"""

# The SQL of `release_pending` and `expire_points` is fixed text; only placeholders are formatted in,
# every value is bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tessera.core.bulk import IdList, id_list
from tessera.core.progress import SILENT, Progress
from tessera.ledger.models import Entry, EntryKind, ExpiryNotice, Lot
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


def _accounts_of(lots: QuerySet[Lot]) -> Callable[[], int]:
    """How many accounts own `lots`: the size of a job's progress bar."""
    return lambda: lots.values("account_id").distinct().count()


# The per-chunk statements of `release_pending` (and, below, of `expire_points`): the same text on
# PostgreSQL and SQLite (>= 3.35: RETURNING, UPDATE … FROM) but for `{ids}`, "is one of the chunk's
# ids" bound as one value (core.bulk).
_RELEASABLE = "account_id {ids} AND released = false AND available_at <= %s"
#: The units the due lots still hold leave `pending`: they become spendable.
_RELEASE_ACCOUNTS = f"""UPDATE ledger_account SET pending = ledger_account.pending - d.total
    FROM (SELECT account_id, SUM(remaining) AS total FROM ledger_lot WHERE {_RELEASABLE}
          GROUP BY account_id) d
    WHERE ledger_account.id BETWEEN %s AND %s AND ledger_account.id = d.account_id"""
_RELEASE_LOTS = f"""UPDATE ledger_lot SET released = true, updated_at = %s WHERE {_RELEASABLE}
    RETURNING remaining"""


def _lock_sql(ids: IdList) -> str:
    """Lock a chunk of accounts in key order, like every service."""
    sql = f"SELECT id FROM ledger_account WHERE id {ids.sql} ORDER BY id"
    return sql + " FOR UPDATE" if connection.features.has_select_for_update else sql


def release_pending(
    now: datetime | None = None, *, chunk_size: int = CHUNK, progress: Progress = SILENT
) -> int:
    """Release every lot whose return window has passed; returns how many units became available.

    Set-based (issue 16): per chunk of accounts, after locking them in key order, two statements —
    the accounts' `pending` (`UPDATE … FROM` the due lots' sums), then the lots — whatever the chunk's
    size. A re-run finds nothing: released lots no longer match."""
    now = now or timezone.now()
    due = Lot.objects.filter(released=False, available_at__lte=now)
    at = connection.ops.adapt_datetimefield_value(now)
    ids = id_list()
    lock_sql = _lock_sql(ids)
    accounts_sql, lots_sql = (sql.format(ids=ids.sql) for sql in (_RELEASE_ACCOUNTS, _RELEASE_LOTS))
    advance = progress.task(gettext("Releasing pending points (accounts)"), _accounts_of(due))
    released = 0
    for chunk in _account_chunks(due, chunk_size):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(lock_sql, [ids.param(chunk)])
            cursor.execute(accounts_sql, [ids.param(chunk), at, chunk[0], chunk[-1]])
            cursor.execute(lots_sql, [at, ids.param(chunk), at])
            released += sum(remaining for (remaining,) in cursor.fetchall())
        advance(len(chunk))
    return released


# The per-chunk statements of `expire_points`. 500 placeholders cost the client more to bind than the
# statement costs the server: hence `{ids}`. The accounts are also bounded by the chunk's first and
# last id: without it PostgreSQL may hash-join the chunk's few hundred sums against a scan of every
# account, once per chunk (quadratic).
_DUE = "{lot}remaining > 0 AND {lot}expires_at <= %s"
_DUE_BY_ACCOUNT = f"""SELECT account_id, SUM(remaining) AS total,
        SUM(CASE WHEN released THEN 0 ELSE remaining END) AS pending
    FROM ledger_lot WHERE account_id {{ids}} AND {_DUE.format(lot="")} GROUP BY account_id"""
#: One EXPIRE entry per account whose expiring units no pending sale holds; the reports' trigger on
#: ledger_entry writes their deltas in this statement.
_EXPIRE_ENTRIES = f"""INSERT INTO ledger_entry (created_at, updated_at, merchant_id, account_id, kind, amount,
        balance_after, source, reason_code, reason_args, reason, occurred_at)
    SELECT %s, %s, a.merchant_id, a.id, %s, -d.total, a.balance - d.total, '', '', '{{{{}}}}', '', %s
    FROM ledger_account a JOIN ({_DUE_BY_ACCOUNT}) d ON d.account_id = a.id
    WHERE a.id BETWEEN %s AND %s AND a.balance - d.total >= a.pending - d.pending + a.held
    ORDER BY a.id
    RETURNING id, account_id, amount"""
_EXPIRE_LOT_USES = f"""INSERT INTO ledger_lotuse (merchant_id, entry_id, lot_id, amount)
    SELECT l.merchant_id, e.id, l.id, -l.remaining
    FROM ledger_entry e JOIN ledger_lot l ON l.account_id = e.account_id
    WHERE e.id {{ids}} AND {_DUE.format(lot="l.")}
    ORDER BY l.id"""
_EXPIRE_ACCOUNTS = f"""UPDATE ledger_account
    SET balance = ledger_account.balance - d.total, pending = ledger_account.pending - d.pending,
        updated_at = %s
    FROM ({_DUE_BY_ACCOUNT}) d
    WHERE ledger_account.id BETWEEN %s AND %s AND ledger_account.id = d.account_id"""
_EXPIRE_LOTS = f"""UPDATE ledger_lot SET remaining = 0, updated_at = %s
    WHERE account_id {{ids}} AND {_DUE.format(lot="")}"""


def expire_points(
    now: datetime | None = None, *, chunk_size: int = CHUNK, progress: Progress = SILENT
) -> int:
    """Expire every lot past its expiry date: one EXPIRE entry per account. Returns the units expired.

    An account whose expiring units are held by a pending sale is left for the next run, when the
    sale is confirmed or voided: expiring them now would leave the hold uncovered.

    Set-based (issue 16): per chunk of accounts, after locking them in key order, four statements —
    the entries (`INSERT … SELECT … RETURNING`), their lot uses, the accounts, the lots — whatever the
    chunk's size; no Python object per row. `entries_written` is still sent with the saved entries
    when anything listens to it."""
    now = now or timezone.now()
    expired_lots = Lot.objects.filter(remaining__gt=0, expires_at__lte=now)
    at = connection.ops.adapt_datetimefield_value(now)
    id_sql = id_list()
    to_param = id_sql.param
    lock_sql = _lock_sql(id_sql)
    entries_sql, lot_uses_sql, accounts_sql, lots_sql = (
        sql.format(ids=id_sql.sql)
        for sql in (_EXPIRE_ENTRIES, _EXPIRE_LOT_USES, _EXPIRE_ACCOUNTS, _EXPIRE_LOTS)
    )
    advance = progress.task(gettext("Expiring points (accounts)"), _accounts_of(expired_lots))
    expired = 0
    for ids in _account_chunks(expired_lots, chunk_size):
        with transaction.atomic():
            written = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(lock_sql, [to_param(ids)])
                cursor.execute(
                    entries_sql,
                    [written, written, EntryKind.EXPIRE.value, at, to_param(ids), at, ids[0], ids[-1]],
                )
                rows = cursor.fetchall()
                if rows:
                    entry_ids = to_param([pk for pk, _account_id, _amount in rows])
                    done = to_param([account_id for _pk, account_id, _amount in rows])
                    cursor.execute(lot_uses_sql, [entry_ids, at])
                    cursor.execute(accounts_sql, [at, done, at, ids[0], ids[-1]])
                    cursor.execute(lots_sql, [at, done, at])
            expired -= sum(amount for _pk, _account_id, amount in rows)
            if rows and entries_written.has_listeners(Entry):
                entries = list(
                    Entry.objects.filter(pk__in=[pk for pk, _a, _m in rows])
                    .select_related("account")
                    .order_by("pk")
                )
                entries_written.send(sender=Entry, entries=entries)
        advance(len(ids))
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
