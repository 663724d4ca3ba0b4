"""Every write to the ledger. Each function is one transaction and locks the account row it changes.

Conventions: amounts are positive ints; `actor` is a user or None (system); `store` may be None;
`source` says what caused the movement ("sale:42", "card:17"); `now` defaults to timezone.now() and
exists for tests.

How overdraft is made impossible (E11): every function takes `SELECT ... FOR UPDATE` on the account row
before it reads a balance or a lot, and writes the entry, the lots and the account's cached counters in
the same transaction. Lots are only ever changed under their account's lock, so they need no lock of
their own. On SQLite the settings open every transaction with BEGIN IMMEDIATE, which serialises writers
the same way. The check constraints on Account back all of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Field, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.core import bulk, prepared
from tessera.core.errors import Conflict, ValidationFailed
from tessera.core.limits import MAX_BALANCE
from tessera.core.prepared import Prepared
from tessera.core.transactions import atomic
from tessera.ledger.locks import holds_lock
from tessera.ledger.models import (
    Account,
    AccountKind,
    Entry,
    EntryKind,
    Hold,
    HoldStatus,
    Lot,
    LotUse,
    unexpired,
)
from tessera.ledger.reasons import Reason, stored
from tessera.ledger.selectors import spend_order, with_live_balances
from tessera.ledger.signals import entries_written
from tessera.members.models import Member
from tessera.tenancy.models import Merchant, Store

#: Entry kinds written only by reverse() and transfer(), never by credit() or debit().
_INTERNAL_KINDS = {EntryKind.REVERSAL, EntryKind.TRANSFER}
#: How many lots a spend reads at a time: most spends are covered by the first one or two.
_LOT_BATCH = 32


class InsufficientBalance(Conflict):
    code = "insufficient_balance"

    def __init__(self, *, spendable: int, requested: int) -> None:
        super().__init__(
            _("Not enough balance: %(spendable)s available, %(requested)s requested.")
            % {"spendable": spendable, "requested": requested},
            spendable=spendable,
            requested=requested,
        )


class BalanceLimitExceeded(Conflict):
    """The account would hold more than MAX_BALANCE (core.limits), which a check constraint forbids."""

    code = "balance_limit"

    def __init__(self, *, balance: int, requested: int) -> None:
        super().__init__(
            _("The balance would pass its limit of %(limit)s: %(balance)s held, %(requested)s more.")
            % {"limit": MAX_BALANCE, "balance": balance, "requested": requested},
            limit=MAX_BALANCE,
            balance=balance,
            requested=requested,
        )


@dataclass(frozen=True, slots=True)
class MemberAccount:
    """A member's account of a kind, named instead of read: a writer given this locks the account in
    the statement that finds it (and opens it on first use), one statement fewer than reading it first.
    """

    merchant_id: int
    member_id: int
    kind: AccountKind


def open_account(
    *, merchant: Merchant, kind: AccountKind, member: Member | None = None, actor: Any = None
) -> Account:
    """The member's account of `kind` (created on first use); a new unowned one when member is None."""
    if member is not None and member.merchant_id != merchant.pk:
        raise ValidationFailed(_("This member belongs to another merchant."), code="member_of_other_merchant")
    user = _user(actor)
    if member is None:
        return Account.objects.create(merchant=merchant, kind=kind, created_by=user, updated_by=user)
    # The unique constraint makes a concurrent first use fall back to the row the other one created.
    account, _created = Account.objects.get_or_create(
        merchant=merchant,
        member=member,
        kind=kind,
        defaults={"created_by": user, "updated_by": user},
    )
    return account


def credit(
    *,
    account: Account | MemberAccount,
    amount: int,
    kind: EntryKind = EntryKind.EARN,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    sale_amount: int | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Entry:
    """Add value as a new lot (earn, bonus, top-up, positive adjust). Pending until `available_at`.

    The returned entry's `account` is the locked row, read with its live counters as of the call: a new
    lot neither lapses nor ripens them, so its `live_balance` and `spendable` cost no further query."""
    _check_amount(amount)
    _check_kind(kind)
    _check_store(account, store)
    now = now or timezone.now()
    available_at = available_at or now
    pending = available_at > now
    with atomic():
        locked = _lock(account, live=True)
        _check_ceiling(locked, amount)
        locked.balance += amount
        if pending:
            locked.pending += amount
        entry = _write_entry(
            account=locked,
            kind=kind,
            amount=amount,
            store=store,
            actor=actor,
            source=source,
            reason=reason,
            sale_amount=sale_amount,
            now=now,
        )
        _open_lot(locked, entry, available_at=available_at, expires_at=expires_at)
        _save_account(locked, actor)
    if isinstance(account, Account) and account is not locked:
        _refresh(account, locked)
    return entry


def _open_lot(account: Account, entry: Entry, *, available_at: datetime, expires_at: datetime | None) -> Lot:
    """The lot a credit `entry` opens, pending until `available_at` (when that is after the entry)."""
    lot = Lot(
        merchant_id=account.merchant_id,
        account=account,
        entry=entry,
        amount=entry.amount,
        remaining=entry.amount,
        earned_at=entry.occurred_at,
        available_at=available_at,
        expires_at=expires_at,
        released=not available_at > entry.occurred_at,
        created_by=entry.created_by,
        updated_by=entry.created_by,
    )
    return prepared.create(lot)  # its INSERT's text built once (issue 13)


def credit_expired(
    *,
    account: Account | MemberAccount,
    amount: int,
    earned_at: datetime,
    expires_at: datetime,
    kind: EntryKind = EntryKind.EARN,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    sale_amount: int | None = None,
    now: datetime | None = None,
) -> tuple[Entry, Entry]:
    """Record units earned at `earned_at` that already expired at `expires_at`: the credit and its
    EXPIRE entry (dated `expires_at`) in one transaction, so no balance ever shows them (E4, E10)."""
    now = now or timezone.now()
    if expires_at > now:
        raise ValidationFailed(_("These points have not expired yet."), code="points_not_expired")
    if expires_at <= earned_at:
        raise ValidationFailed(
            _("Points must expire after the date they were earned."), code="expiry_before_earning"
        )
    with atomic():
        earned = credit(
            account=account,
            amount=amount,
            kind=kind,
            store=store,
            actor=actor,
            source=source,
            reason=reason,
            sale_amount=sale_amount,
            expires_at=expires_at,
            now=earned_at,
        )
        locked = _lock(earned.account_id)
        locked.balance -= amount
        expiry = _write_entry(
            account=locked,
            kind=EntryKind.EXPIRE,
            amount=-amount,
            store=store,
            actor=actor,
            source=source,
            reason=reason,
            now=expires_at,
        )
        _apply_lot_changes(expiry, [(Lot.objects.get(entry=earned), amount)], sign=-1)
        _save_account(locked, actor)
    if isinstance(account, Account):
        _refresh(account, locked)
    earned.account = locked  # the row after the expiry: its live counters are read on first use
    return earned, expiry


def debit(
    *,
    account: Account,
    amount: int,
    kind: EntryKind = EntryKind.SPEND,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    sale_amount: int | None = None,
    occurred_at: datetime | None = None,
    now: datetime | None = None,
) -> Entry:
    """Take spendable value, first-expiring lots first, recording the lots used.

    Which lots may be drawn is judged at `now`, even when the entry is dated earlier (`occurred_at`, a
    paper record entered late): units that expired since cannot be spent. Raises InsufficientBalance
    when the spendable balance is short."""
    _check_amount(amount)
    _check_kind(kind)
    _check_store(account, store)
    now = now or timezone.now()
    with atomic():
        locked = _lock(account.pk)
        _release_due(locked, now)
        draws = _plan_draws(locked, amount, now)
        locked.balance -= amount
        entry = _write_entry(
            account=locked,
            kind=kind,
            amount=-amount,
            store=store,
            actor=actor,
            source=source,
            reason=reason,
            sale_amount=sale_amount,
            now=occurred_at or now,
        )
        _apply_lot_changes(entry, draws, sign=-1)
        _save_account(locked, actor)
    _refresh(account, locked)
    return entry


def place_hold(
    *,
    account: Account | MemberAccount,
    amount: int,
    source: str,
    actor: Any = None,
    now: datetime | None = None,
) -> Hold:
    """Reserve spendable value for a pending sale. InsufficientBalance if short. The account is locked
    and read with what it can spend in one statement."""
    _check_amount(amount)
    now = now or timezone.now()
    with atomic():
        locked = _lock(account, live=True, now=now)
        spendable = locked.spendable
        if spendable < amount:
            raise InsufficientBalance(spendable=spendable, requested=amount)
        _release_due(locked, now)
        locked.forget_live_counts()
        locked.held += amount
        hold = Hold(merchant_id=locked.merchant_id, account=locked, amount=amount, source=source)
        hold.stamp(actor)
        prepared.create(hold)
        _save_account(locked, actor)
    if isinstance(account, Account):
        _refresh(account, locked)
    return hold


def capture_hold(
    *,
    hold: Hold,
    store: Store | None = None,
    actor: Any = None,
    reason: Reason | str = "",
    sale_amount: int | None = None,
    source: str = "",
    now: datetime | None = None,
) -> Entry:
    """Turn an active hold into a spend entry (the sale is confirmed).

    Capturing a captured hold again returns its entry (a retried confirm); a released one is a Conflict.
    The held units come from the lots spendable at capture time, first-expiring first. `source` names
    the hold and its entry anew (default: the hold's)."""
    spend, _earned = settle(
        hold=hold, store=store, actor=actor, reason=reason, sale_amount=sale_amount, source=source, now=now
    )
    assert spend is not None
    return spend


@dataclass(frozen=True, slots=True)
class Earning:
    """Units `settle` credits as a new lot, as `credit` would (pending until `available_at`)."""

    amount: int
    kind: EntryKind = EntryKind.EARN
    source: str = ""
    sale_amount: int | None = None
    available_at: datetime | None = None
    expires_at: datetime | None = None


def settle(
    *,
    hold: Hold | None = None,
    earning: Earning | None = None,
    account: Account | MemberAccount | None = None,
    store: Store | None = None,
    actor: Any = None,
    reason: Reason | str = "",
    sale_amount: int | None = None,
    source: str = "",
    now: datetime | None = None,
) -> tuple[Entry | None, Entry | None]:
    """Capture `hold` (as `capture_hold`) and credit `earning` (as `credit`) on one account, `account`
    or the hold's: a confirmed sale's points, under one lock and one update of the account, the entries
    written together and announced once (issue 13). Returns (spend entry, earning entry).

    Holds change only under their account's lock, which is held here: the hold's status as given is
    checked again by the UPDATE that captures it (a Conflict if it changed meanwhile). `source` names
    the hold and its spend entry anew (default: the hold's)."""
    if earning is not None:
        _check_amount(earning.amount)
        _check_kind(earning.kind)
    now = now or timezone.now()
    target = account if account is not None else (hold.account_id if hold is not None else None)
    if target is None:
        return None, None
    if account is not None:
        _check_store(account, store)
    with atomic():
        locked = _lock(target)
        _check_store(locked, store)
        spend: Entry | None = None
        draws: list[tuple[Lot, int]] = []
        fresh: list[Entry] = []
        if hold is not None:
            if hold.account_id != locked.pk:
                raise ValidationFailed(_("The hold is on another account."), code="hold_of_other_account")
            if hold.status == HoldStatus.RELEASED:
                raise Conflict(_("This hold was released and cannot be captured."), code="hold_released")
            if hold.status == HoldStatus.CAPTURED:
                spend = Entry.objects.get(pk=hold.captured_entry_id)
            else:
                _release_due(locked, now)
                locked.held -= hold.amount
                draws = _plan_draws(locked, hold.amount, now)
                locked.balance -= hold.amount
                spend = _new_entry(
                    account=locked,
                    kind=EntryKind.SPEND,
                    amount=-hold.amount,
                    store=store,
                    actor=actor,
                    source=source or hold.source,
                    reason=reason,
                    sale_amount=sale_amount,
                    now=now,
                )
                fresh.append(spend)
        earned: Entry | None = None
        pending = False
        if earning is not None:
            _check_ceiling(locked, earning.amount)
            available_at = earning.available_at or now
            pending = available_at > now
            locked.balance += earning.amount
            if pending:
                locked.pending += earning.amount
            earned = _new_entry(
                account=locked,
                kind=earning.kind,
                amount=earning.amount,
                store=store,
                actor=actor,
                source=earning.source,
                reason=reason,
                sale_amount=earning.sale_amount,
                now=now,
            )
            fresh.append(earned)
        if not fresh:
            return spend, None
        _save_entries(fresh)
        if draws:
            assert spend is not None and hold is not None
            _apply_lot_changes(spend, draws, sign=-1)
        if earned is not None and earning is not None:
            _open_lot(locked, earned, available_at=earning.available_at or now, expires_at=earning.expires_at)
        if hold is not None and spend is not None and hold.status == HoldStatus.ACTIVE:
            captured = prepared.update(
                Hold,
                hold.pk,
                where={"status": HoldStatus.ACTIVE},
                status=HoldStatus.CAPTURED,
                captured_entry=spend,
                source=spend.source,
                updated_at=now,
                updated_by=_user(actor),
            )
            if captured != 1:
                raise Conflict(_("This hold changed meanwhile; try again."), code="hold_changed")
            hold.status, hold.captured_entry_id, hold.source = HoldStatus.CAPTURED, spend.pk, spend.source
        _save_account(locked, actor)
    if isinstance(account, Account):
        _refresh(account, locked)
    return spend, earned


def release_hold(*, hold: Hold, actor: Any = None, source: str = "") -> Hold:
    """Give a hold's value back to spendable (the sale is voided before confirm). Idempotent. `source`
    names the hold anew (default: as it is)."""
    with atomic():
        locked = _lock(hold.account_id)
        current = Hold.objects.select_for_update().get(pk=hold.pk)
        if current.status == HoldStatus.CAPTURED:
            raise Conflict(
                _("This hold was already captured; reverse its entry instead."), code="hold_captured"
            )
        if current.status == HoldStatus.ACTIVE:
            locked.held -= current.amount
            current.status = HoldStatus.RELEASED
            current.source = source or current.source
            current.stamp(actor)
            prepared.save(current, update_fields=("status", "source", "updated_at", "updated_by"))
            _save_account(locked, actor)
    _refresh_hold(hold, current)
    return current


def reverse(
    *,
    entry: Entry,
    amount: int | None = None,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    sale_amount: int | None = None,
    now: datetime | None = None,
) -> Entry | None:
    """Undo all or `amount` of an entry, never more than what it has left unreversed.

    Reversing a debit gives the units back to the very lots it drew from. Reversing a credit takes
    back what is left of its lot and, if the member already spent some, from other spendable lots,
    never below zero (the shortfall is kept in the entry's `reason_args`). None when nothing is left.

    "Left unreversed" is the entry's amount minus what its reversals actually moved, so a credit
    reversal that fell short can be retried later for the rest. `store` defaults to the entry's store,
    `source` to its source. The returned entry carries `shortfall` (0 when everything was taken back).
    """
    if amount is not None:
        _check_amount(amount)
    if entry.kind in _INTERNAL_KINDS:
        raise Conflict(_("Reversals and transfers cannot be reversed."), code="not_reversible")
    store = store if store is not None else entry.store
    now = now or timezone.now()
    with atomic():
        # The entry's account as the caller holds it: used as it is if the caller locked it already.
        locked = _lock(entry.account if Entry.account.is_cached(entry) else entry.account_id)
        _check_store(locked, store)
        _release_due(locked, now)
        # What the entry's earlier reversals moved is read with the lots (or lot uses) the plan needs,
        # in one statement, after the lock: every reversal of the entry is written under it.
        if entry.amount < 0:
            uses = _uses_to_give_back(entry)
            reversed_so_far = _reversed(entry, uses)
        else:
            own = _own_lots(entry)
            reversed_so_far = _reversed(entry, own)
        left = abs(entry.amount) - reversed_so_far
        wanted = left if amount is None else min(amount, left)
        if wanted <= 0:
            return None
        if entry.amount < 0:
            changes = _give_back_plan(uses, wanted)
            shortfall = 0
            sign = 1
        else:
            changes = _take_back_plan(locked, entry, own, wanted, now)
            shortfall = wanted - sum(n for _lot, n in changes)
            sign = -1
        moved = sum(n for _lot, n in changes)
        if moved == 0:
            return None
        if shortfall:
            # Kept as an argument, rendered in the language of whoever reads the entry.
            reason = (reason if isinstance(reason, Reason) else Reason("", note=reason)).with_args(
                shortfall=shortfall
            )
        if sign > 0:
            _check_ceiling(locked, moved)
        locked.balance += sign * moved
        locked.pending += sign * sum(n for lot, n in changes if not lot.released)
        reversal = _write_entry(
            account=locked,
            kind=EntryKind.REVERSAL,
            amount=sign * moved,
            store=store,
            actor=actor,
            source=source or entry.source,
            reason=reason,
            sale_amount=sale_amount,
            now=now,
            reverses=entry,
        )
        _apply_lot_changes(reversal, changes, sign=sign)
        _save_account(locked, actor)
    reversal.shortfall = shortfall  # type: ignore[attr-defined]
    if Entry.account.is_cached(entry):
        _refresh(entry.account, locked)
    return reversal


def transfer(
    *,
    source_account: Account,
    target_account: Account,
    actor: Any = None,
    reason: Reason | str = "",
    source: str = "",
    now: datetime | None = None,
) -> tuple[Entry, Entry] | None:
    """Move everything (lots with their dates) from one account to another (card replacement).

    Each open lot is closed on the source and re-opened on the target with the same earning,
    availability and expiry dates and the same pending state. None when there is nothing to move.
    An account with active holds cannot be emptied: settle the pending sales first."""
    _check_pair(source_account, target_account)
    now = now or timezone.now()
    with atomic():
        src, tgt = _lock_pair(source_account, target_account)
        if src.held:
            raise Conflict(
                _("This account has value held for pending sales; confirm or void them first."),
                code="account_has_holds",
            )
        lots = list(spend_order(src.lots.filter(remaining__gt=0)))
        total = sum(lot.remaining for lot in lots)
        if total == 0:
            return None
        pending = sum(lot.remaining for lot in lots if not lot.released)
        moved = _move(
            src,
            tgt,
            [(lot, lot.remaining) for lot in lots],
            pending=pending,
            actor=actor,
            source=source,
            reasons=(reason, reason),
            now=now,
        )
    _refresh(source_account, src)
    _refresh(target_account, tgt)
    return moved


def transfer_amount(
    *,
    source_account: Account,
    target_account: Account,
    amount: int,
    actor: Any = None,
    source_reason: Reason | str = "",
    target_reason: Reason | str = "",
    source: str = "",
    now: datetime | None = None,
) -> tuple[Entry, Entry]:
    """Move `amount` spendable units from one account to another of the same merchant, first-expiring
    lots first, each part re-opened on the target with its earning, availability and expiry dates.

    Only spendable units move (released, unexpired, not held): InsufficientBalance otherwise. Both rows
    are locked in primary-key order, so two transfers between the same accounts, either way, cannot
    deadlock, and two racing from one source never overdraw it."""
    _check_amount(amount)
    _check_pair(source_account, target_account)
    now = now or timezone.now()
    with atomic():
        src, tgt = _lock_pair(source_account, target_account)
        _release_due(src, now)
        moved = _move(
            src,
            tgt,
            _plan_draws(src, amount, now),
            pending=0,
            actor=actor,
            source=source,
            reasons=(source_reason, target_reason),
            now=now,
        )
    _refresh(source_account, src)
    _refresh(target_account, tgt)
    return moved


def _check_pair(source_account: Account, target_account: Account) -> None:
    """What both transfers refuse before locking anything."""
    if source_account.pk == target_account.pk:
        raise ValidationFailed(_("An account cannot be transferred to itself."), code="same_account")
    if source_account.merchant_id != target_account.merchant_id:
        raise ValidationFailed(_("Value cannot move between merchants."), code="account_of_other_merchant")
    if source_account.kind != target_account.kind:
        raise ValidationFailed(_("Both accounts must hold the same kind of value."), code="kind_mismatch")


def _lock_pair(source_account: Account, target_account: Account) -> tuple[Account, Account]:
    """Both rows locked in primary-key order, so two opposite transfers cannot deadlock."""
    first, second = sorted([source_account.pk, target_account.pk])
    locked = {pk: _lock(pk) for pk in (first, second)}
    return locked[source_account.pk], locked[target_account.pk]


def _move(
    src: Account,
    tgt: Account,
    parts: list[tuple[Lot, int]],
    *,
    pending: int,
    actor: Any,
    source: str,
    reasons: tuple[Reason | str, Reason | str],
    now: datetime,
) -> tuple[Entry, Entry]:
    """Take `parts` (lot, units) from the locked `src` and open them on the locked `tgt` with their
    earning, availability and expiry dates; `pending` of the units are not released yet."""
    total = sum(n for _lot, n in parts)
    src.balance -= total
    src.pending -= pending
    out = _write_entry(
        account=src,
        kind=EntryKind.TRANSFER,
        amount=-total,
        store=None,
        actor=actor,
        source=source or f"account:{tgt.pk}",
        reason=reasons[0],
        now=now,
    )
    _apply_lot_changes(out, parts, sign=-1)
    _check_ceiling(tgt, total)
    tgt.balance += total
    tgt.pending += pending
    into = _write_entry(
        account=tgt,
        kind=EntryKind.TRANSFER,
        amount=total,
        store=None,
        actor=actor,
        source=source or f"account:{src.pk}",
        reason=reasons[1],
        now=now,
    )
    Lot.objects.bulk_create(
        Lot(
            merchant_id=tgt.merchant_id,
            account=tgt,
            entry=into,
            amount=n,
            remaining=n,
            earned_at=lot.earned_at,
            available_at=lot.available_at,
            expires_at=lot.expires_at,
            released=lot.released,
            created_by=into.created_by,
            updated_by=into.created_by,
        )
        for lot, n in parts
    )
    _save_account(src, actor)
    _save_account(tgt, actor)
    return out, into


@dataclass(frozen=True)
class OpeningBalance:
    """Points a member brings from the merchant's previous system: one lot with its own dates."""

    member_id: int
    amount: int
    earned_at: datetime
    expires_at: datetime | None = None


def credit_opening_balances(
    *,
    merchant: Merchant,
    balances: Sequence[OpeningBalance],
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    now: datetime | None = None,
) -> list[Entry]:
    """Open the points account of each member, holding their opening balance (C4 imports), in bulk.

    Per member: a new account, one ADJUST entry written now and one lot keeping the original earning
    date and expiry, available at once. Only for members without a points account: the accounts are
    new, so there is nothing to lock, and an existing one makes the unique constraint fail the call."""
    if not balances:
        return []
    now = now or timezone.now()
    for balance in balances:
        _check_amount(balance.amount)
        if balance.amount > MAX_BALANCE:
            raise BalanceLimitExceeded(balance=0, requested=balance.amount)
        if balance.earned_at > now:
            raise ValidationFailed(_("Points cannot be earned in the future."), code="earned_in_future")
        if balance.expires_at is not None and balance.expires_at <= balance.earned_at:
            raise ValidationFailed(
                _("Points must expire after the date they were earned."), code="expiry_before_earning"
            )
    ids = [balance.member_id for balance in balances]
    if Member.objects.filter(pk__in=ids).exclude(merchant=merchant).exists():
        raise ValidationFailed(_("This member belongs to another merchant."), code="member_of_other_merchant")
    user = _user(actor)
    with atomic():
        accounts = Account.objects.bulk_create(
            Account(
                merchant=merchant,
                member_id=balance.member_id,
                kind=AccountKind.POINTS,
                balance=balance.amount,
                created_by=user,
                updated_by=user,
            )
            for balance in balances
        )
        entries = Entry.objects.bulk_create(
            Entry(
                merchant=merchant,
                account=account,
                kind=EntryKind.ADJUST,
                amount=balance.amount,
                balance_after=balance.amount,
                source=source,
                **stored(reason),
                occurred_at=now,
                created_by=user,
                updated_by=user,
            )
            for account, balance in zip(accounts, balances, strict=True)
        )
        Lot.objects.bulk_create(
            Lot(
                merchant=merchant,
                account=account,
                entry=entry,
                amount=balance.amount,
                remaining=balance.amount,
                earned_at=balance.earned_at,
                available_at=balance.earned_at,
                expires_at=balance.expires_at,
                released=True,
                created_by=user,
                updated_by=user,
            )
            for account, entry, balance in zip(accounts, entries, balances, strict=True)
        )
        entries_written.send(sender=Entry, entries=entries)
    return entries


def credit_opening_balances_from(
    *,
    merchant: Merchant,
    rows: str,
    params: Sequence[Any] = (),
    actor: Any = None,
    source: str = "",
    reason: Reason | str = "",
    now: datetime | None = None,
) -> int:
    """`credit_opening_balances` set-based (issue 16): `rows` is a SELECT (with `params`) of the columns
    `member_id`, `amount`, `earned_at`, `expires_at`, one row per member of the merchant without a
    points account. Three statements whatever the number of rows — the accounts,
    their entries, their lots — after one that refuses what `credit_opening_balances` refuses.
    Returns how many balances were credited."""
    now = now or timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    # Each row looks up its member, account and entry by a unique index (scalar subqueries), so the
    # work follows the rows given, whatever the planner believes of tables that grew in this very
    # transaction (an import's blocks, issue 16), never a scan of all the merchant's accounts.
    bad = f"""SELECT x.* FROM (
            SELECT r.amount, r.earned_at, r.expires_at,
                (SELECT m.merchant_id FROM members_member m WHERE m.id = r.member_id) AS merchant_id
            FROM ({rows}) r
        ) x WHERE x.amount <= 0 OR x.amount > %s OR x.earned_at > %s OR x.expires_at <= x.earned_at
           OR x.merchant_id <> %s"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"{bad} LIMIT 1", [*params, MAX_BALANCE, at, merchant.pk])
        refused = cursor.fetchone()
    if refused is not None:
        amount, _earned, _expires, merchant_id = refused
        if merchant_id != merchant.pk:
            raise ValidationFailed(
                _("This member belongs to another merchant."), code="member_of_other_merchant"
            )
        _check_amount(int(amount))
        if amount > MAX_BALANCE:
            raise BalanceLimitExceeded(balance=0, requested=int(amount))
        raise ValidationFailed(
            _("The earning and expiry dates of opening points are not valid."), code="invalid_dates"
        )
    user = _user(actor)
    user_id = bulk.Param(user.pk if user is not None else None)
    stamps = {
        "merchant_id": bulk.Param(merchant.pk),
        "created_at": bulk.Param(now),
        "updated_at": bulk.Param(now),
        "created_by_id": user_id,
        "updated_by_id": user_id,
    }
    # The account each row's member was just given (one per member and kind).
    of_accounts = f"""FROM (SELECT (SELECT a.id FROM ledger_account a WHERE a.merchant_id = %s
            AND a.member_id = r.member_id AND a.kind = %s) AS account_id, r.amount, r.earned_at, r.expires_at
        FROM ({rows}) r) r"""  # noqa: S608
    of_accounts_params = [merchant.pk, AccountKind.POINTS.value, *params]
    with atomic():
        accounts = bulk.returning(
            *bulk.insert_select(
                Account,
                {
                    **stamps,
                    "member_id": "r.member_id",
                    "kind": bulk.Param(AccountKind.POINTS.value),
                    "balance": "r.amount",
                },
                f"FROM ({rows}) r",
                params,
            ),
            "id",
        )
        if not accounts:
            return 0
        entries = bulk.returning(
            *bulk.insert_select(
                Entry,
                {
                    **stamps,
                    "account_id": "r.account_id",
                    "kind": bulk.Param(EntryKind.ADJUST.value),
                    "amount": "r.amount",
                    "balance_after": "r.amount",
                    "source": bulk.Param(source),
                    **{name: bulk.Param(value) for name, value in stored(reason).items()},
                    "occurred_at": bulk.Param(now),
                },
                f"{of_accounts} ORDER BY r.account_id",
                of_accounts_params,
            ),
            "id",
        )
        # The accounts are new, so each has exactly the entry written here.
        bulk.execute(
            *bulk.insert_select(
                Lot,
                {
                    **stamps,
                    "account_id": "r.account_id",
                    "entry_id": "(SELECT e.id FROM ledger_entry e WHERE e.account_id = r.account_id)",
                    "amount": "r.amount",
                    "remaining": "r.amount",
                    "earned_at": "r.earned_at",
                    "available_at": "r.earned_at",
                    "expires_at": "r.expires_at",
                    "released": bulk.Param(True),
                },
                f"{of_accounts} ORDER BY r.account_id",
                of_accounts_params,
            )
        )
        if entries_written.has_listeners(Entry):
            entries_written.send(
                sender=Entry,
                entries=list(
                    Entry.objects.filter(pk__in=[pk for (pk,) in entries])
                    .select_related("account")
                    .order_by("pk")
                ),
            )
    return len(accounts)


# --- helpers -------------------------------------------------------------------------------------


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_("The amount must be a positive whole number."), code="invalid_amount")


def _check_ceiling(account: Account, amount: int) -> None:
    """Refuse, with the limit, what the check constraint `account_balance_within_limit` would refuse."""
    if account.balance + amount > MAX_BALANCE:
        raise BalanceLimitExceeded(balance=account.balance, requested=amount)


def _check_kind(kind: EntryKind) -> None:
    if kind in _INTERNAL_KINDS:
        raise ValidationFailed(
            _("Use reverse() or transfer() for this kind of entry."), code="invalid_entry_kind"
        )


def _check_store(account: Account | MemberAccount, store: Store | None) -> None:
    if store is not None and store.merchant_id != account.merchant_id:
        raise ValidationFailed(_("This store belongs to another merchant."), code="store_of_other_merchant")


def _lock(
    target: int | Account | MemberAccount, *, live: bool = False, now: datetime | None = None
) -> Account:
    """The account row, locked until the transaction ends (`live`: read with its live counters as of
    `now`). A `MemberAccount` is found and locked in one statement, and opened on first use. A row the
    caller locked and marked in this transaction (`ledger.locks.mark_locked`) is used as it is. The queries
    are prepared (`core.prepared`): every write of the ledger runs one."""
    if isinstance(target, Account) and holds_lock(target):
        return target
    moment = now or timezone.now()
    if isinstance(target, MemberAccount):
        name: dict[str, Any] = {
            "merchant_id": target.merchant_id,
            "member_id": target.member_id,
            "kind": str(target.kind),
        }
        found = _LOCK_NAMED_LIVE(now=moment, **name) if live else _LOCK_NAMED(**name)
        if not found:
            # First use: open it (a concurrent first use makes this a no-op), then lock it.
            Account.objects.bulk_create([Account(**name)], ignore_conflicts=True)
            found = _LOCK_NAMED_LIVE(now=moment, **name) if live else _LOCK_NAMED(**name)
        return found[0]
    pk = target if isinstance(target, int) else target.pk
    rows = _LOCK_LIVE(pk=pk, now=moment) if live else _LOCK(pk=pk)
    if not rows:
        raise Account.DoesNotExist(f"No account {pk}")
    return rows[0]


def _locking(now: datetime | None) -> QuerySet[Account]:
    accounts = Account.objects.select_for_update(of=("self",)).order_by()
    return with_live_balances(accounts, now=now) if now is not None else accounts


_LOCK = Prepared(lambda pk: _locking(None).filter(pk=pk), pk=int)
_LOCK_LIVE = Prepared(lambda pk, now: _locking(now).filter(pk=pk), pk=int, now=datetime)
_LOCK_NAMED = Prepared(
    lambda merchant_id, member_id, kind: _locking(None).filter(
        merchant_id=merchant_id, member_id=member_id, kind=kind
    ),
    merchant_id=int,
    member_id=int,
    kind=str,
)
_LOCK_NAMED_LIVE = Prepared(
    lambda merchant_id, member_id, kind, now: _locking(now).filter(
        merchant_id=merchant_id, member_id=member_id, kind=kind
    ),
    merchant_id=int,
    member_id=int,
    kind=str,
    now=datetime,
)


def _save_account(account: Account, actor: Any) -> None:
    """Write the locked account's counters: one UPDATE by its key, its SQL built once (issue 13: what
    `save(update_fields=…)` spends compiling it is a tenth of an earn's CPU). No signal listens to it."""
    account.stamp(actor)
    values = [account.balance, account.pending, account.held]
    stamp = connection.ops.adapt_datetimefield_value(account.updated_at)
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_ACCOUNT_SQL, [*values, stamp, account.updated_by_id, account.pk])


# Names from the model only; every value is a parameter.
_SAVE_ACCOUNT_SQL = "UPDATE {table} SET {columns} WHERE {pk} = %s".format(  # noqa: S608
    table=Account._meta.db_table,
    columns=", ".join(
        f"{field.column} = %s"
        for name in ("balance", "pending", "held", "updated_at", "updated_by")
        if isinstance(field := Account._meta.get_field(name), Field)
    ),
    pk="id",
)


def _refresh(target: Account, source: Account) -> None:
    """Bring the caller's instance up to date, so `account.balance` after a call is the new balance."""
    target.balance, target.pending, target.held = source.balance, source.pending, source.held
    target.forget_live_counts()


def _refresh_hold(target: Hold, source: Hold) -> None:
    target.status, target.captured_entry_id = source.status, source.captured_entry_id


def _write_entry(**fields: Any) -> Entry:
    """The entry (`_new_entry`'s fields) for a change already applied to the locked account, saved."""
    entry = _new_entry(**fields)
    _save_entries([entry])
    return entry


def _new_entry(
    *,
    account: Account,
    kind: str,
    amount: int,
    store: Store | None,
    actor: Any,
    source: str,
    reason: Reason | str,
    now: datetime,
    sale_amount: int | None = None,
    reverses: Entry | None = None,
) -> Entry:
    """The entry (unsaved) for a change already applied to the locked `account`'s balance."""
    entry = Entry(
        merchant_id=account.merchant_id,
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        store=store,
        source=source,
        **stored(reason),
        reverses=reverses,
        sale_amount=sale_amount,
        occurred_at=now,
    )
    entry.stamp(actor)
    return entry


def _save_entries(entries: list[Entry]) -> None:
    """Insert the entries (one statement, its text built once) and announce them once
    (`entries_written`)."""
    if len(entries) == 1:
        prepared.create(entries[0])
    else:
        prepared.bulk_create(entries)
    entries_written.send(sender=Entry, entries=entries)


def _spendable_lots(account: Account, now: datetime) -> QuerySet[Lot]:
    """Released, unexpired lots with units left. Expired lots that the nightly sweep has not reached
    yet are never spent."""
    return account.lots.filter(unexpired(now), released=True, remaining__gt=0)


#: `_spendable_lots` in spend order, the first batch: compiled once (issue 13).
_FIRST_LOTS = Prepared(
    lambda account_id, now: spend_order(
        Lot.objects.filter(unexpired(now), account=account_id, released=True, remaining__gt=0)
    )[:_LOT_BATCH],
    account_id=int,
    now=datetime,
)


def _spendable(account: Account, now: datetime) -> int:
    """What can be spent now, by the definition every balance shown uses (`Account.spendable`)."""
    return with_live_balances(Account.objects.filter(pk=account.pk), now=now).get().spendable


def _release_due(account: Account, now: datetime) -> None:
    """Release the account's pending lots whose window has passed, without waiting for the task."""
    if account.pending == 0:
        return  # nothing is pending (the usual case): spare the query
    due = list(account.lots.filter(released=False, available_at__lte=now).values_list("pk", "remaining"))
    if due:
        released = sum(remaining for _pk, remaining in due)
        Lot.objects.filter(pk__in=[pk for pk, _remaining in due]).update(released=True)
        # Saved here, not only with the caller's change: a call may end without one (nothing to reverse).
        Account.objects.filter(pk=account.pk).update(pending=F("pending") - released)
        account.pending -= released


def _plan_draws(account: Account, amount: int, now: datetime) -> list[tuple[Lot, int]]:
    """Which lots `amount` comes from, first-expiring first; InsufficientBalance when they and the
    holds leave too little. Reads lots a batch at a time: the lots must cover the holds too."""
    needed = amount + account.held
    lots: list[Lot] = []
    covered = 0
    ordered = spend_order(_spendable_lots(account, now))
    offset = 0
    while covered < needed:
        if offset == 0:  # the usual case: one batch, its query compiled once
            batch = _FIRST_LOTS(account_id=account.pk, now=now)
            for lot in batch:
                Lot.account.field.set_cached_value(lot, account)
        else:
            batch = list(ordered[offset : offset + _LOT_BATCH])
        if not batch:
            raise InsufficientBalance(spendable=max(covered - account.held, 0), requested=amount)
        lots.extend(batch)
        covered += sum(lot.remaining for lot in batch)
        offset += _LOT_BATCH
    draws: list[tuple[Lot, int]] = []
    left = amount
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        draws.append((lot, take))
        left -= take
    return draws


def _reversed_total(entry: Entry | int) -> Subquery:
    """What the entry's reversals moved so far (signed), as a subquery."""
    return Subquery(
        Entry.objects.filter(reverses=entry)
        .order_by()
        .values("reverses")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )


def _reversed(entry: Entry, rows: Sequence[Lot | LotUse]) -> int:
    """What the entry's reversals moved so far, as read with `rows` (queried when there are none)."""
    if rows:
        total = rows[0].reversed_total  # type: ignore[union-attr]
    else:
        total = Entry.objects.filter(reverses=entry).aggregate(total=Sum("amount"))["total"]
    return abs(total or 0)


def _uses_to_give_back(entry: Entry) -> list[LotUse]:
    """A debit's lot uses, last first, with their lots, what reversals already gave back to each lot
    (`returned`) and what they moved in all (`reversed_total`): one statement."""
    returned = Subquery(
        LotUse.objects.filter(entry__reverses=entry, lot=OuterRef("lot_id"), amount__gt=0)
        .order_by()
        .values("lot")
        .annotate(total=Sum("amount"))
        .values("total")[:1]
    )
    return list(
        entry.lot_uses.select_related("lot")
        .annotate(returned=returned, reversed_total=_reversed_total(entry))
        .order_by("-pk")
    )


def _own_lots(entry: Entry) -> list[Lot]:
    """A credit's own lots with units left, in spend order, with what its reversals moved in all
    (`reversed_total`): one statement, compiled once."""
    lots: list[Lot] = list(_OWN_LOTS(entry_id=entry.pk))
    for lot in lots:
        Lot.entry.field.set_cached_value(lot, entry)
    return lots


_OWN_LOTS = Prepared(
    lambda entry_id: spend_order(Lot.objects.filter(entry=entry_id, remaining__gt=0)).annotate(
        reversed_total=_reversed_total(entry_id)
    ),
    entry_id=int,
)


def _give_back_plan(uses: list[LotUse], wanted: int) -> list[tuple[Lot, int]]:
    """For reversing a debit: the units each lot still misses from the debit (its `uses`, read by
    `_uses_to_give_back`), last-drawn lot first."""
    changes: list[tuple[Lot, int]] = []
    left = wanted
    for use in uses:  # an entry draws from each lot at most once
        if left == 0:
            break
        give = min(-use.amount - (use.returned or 0), left)  # type: ignore[attr-defined]
        if give > 0:
            changes.append((use.lot, give))
            left -= give
    return changes


def _take_back_plan(
    account: Account, entry: Entry, own: list[Lot], wanted: int, now: datetime
) -> list[tuple[Lot, int]]:
    """For reversing a credit: its own lot first, then other spendable lots, first-expiring first.

    Units in released lots may only be taken while `balance - pending - held` stays >= 0 (a pending
    sale's hold keeps its units); units still pending in the credit's own lot are always taken."""
    slack = account.balance - account.pending - account.held
    changes: list[tuple[Lot, int]] = []
    left = wanted
    others = spend_order(_spendable_lots(account, now).exclude(entry=entry))
    for lot in _chain(own, others):
        if lot is _MORE and (left == 0 or slack <= 0):
            break  # the credit's own lots covered it: the others are not read
        if not isinstance(lot, Lot):
            continue
        limit = lot.remaining if not lot.released else min(lot.remaining, slack)
        take = min(limit, left)
        if take > 0:
            changes.append((lot, take))
            left -= take
            if lot.released:
                slack -= take
        if left == 0:
            break
    return changes


#: Yielded by `_chain` before it reads another batch: the caller may stop there.
_MORE = object()


def _chain(first: list[Lot], then: QuerySet[Lot]) -> Iterable[Lot | object]:
    """`first`, then `then` a batch at a time, `_MORE` before each batch: a plain query per batch, read
    only if the caller goes on (no server-side cursor: DECLARE, FETCH and CLOSE are three statements)."""
    yield from first
    offset = 0
    while True:
        yield _MORE
        batch = list(then[offset : offset + _LOT_BATCH])
        yield from batch
        if len(batch) < _LOT_BATCH:
            return
        offset += _LOT_BATCH


def _apply_lot_changes(entry: Entry, changes: list[tuple[Lot, int]], *, sign: int) -> None:
    """Apply `sign * n` to each lot's remaining and record it as the entry's LotUse rows."""
    if not changes:
        return
    stamp = timezone.now()
    for lot, n in changes:
        lot.remaining += sign * n
        lot.updated_at = stamp
    if len(changes) == 1:  # most spends touch one lot; a plain UPDATE is cheaper than bulk_update's CASE
        prepared.save(changes[0][0], update_fields=("remaining", "updated_at"))
    else:
        Lot.objects.bulk_update([lot for lot, _n in changes], ["remaining", "updated_at"])
    prepared.bulk_create(
        [LotUse(merchant_id=entry.merchant_id, entry=entry, lot=lot, amount=sign * n) for lot, n in changes]
    )
