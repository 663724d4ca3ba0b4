"""Every write to the ledger. Each function is one transaction and locks the account row it changes.

CONTRACT (cards and sales code against these signatures; the ledger helper implements them):
amounts are positive ints; `actor` is a user or None (system); `store` may be None; `source` says what
caused the movement ("sale:42", "card:17"); `now` defaults to timezone.now() and exists for tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from tessera.core.errors import Conflict
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind, Hold
from tessera.members.models import Member
from tessera.tenancy.models import Merchant, Store


class InsufficientBalance(Conflict):
    code = "insufficient_balance"

    def __init__(self, *, spendable: int, requested: int) -> None:
        super().__init__(
            _("Not enough balance: %(spendable)s available, %(requested)s requested.")
            % {"spendable": spendable, "requested": requested},
            spendable=spendable,
            requested=requested,
        )


def open_account(*, merchant: Merchant, kind: AccountKind, member: Member | None = None) -> Account:
    """The member's account of `kind` (created on first use); a new unowned one when member is None."""
    raise NotImplementedError


def credit(
    *,
    account: Account,
    amount: int,
    kind: EntryKind = EntryKind.EARN,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: str = "",
    sale_amount: int | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Entry:
    """Add value as a new lot (earn, bonus, top-up, positive adjust). Pending until `available_at`."""
    raise NotImplementedError


def debit(
    *,
    account: Account,
    amount: int,
    kind: EntryKind = EntryKind.SPEND,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: str = "",
    sale_amount: int | None = None,
    now: datetime | None = None,
) -> Entry:
    """Take spendable value, first-expiring lots first, recording the lots used.

    Raises InsufficientBalance when the spendable balance is short."""
    raise NotImplementedError


def place_hold(*, account: Account, amount: int, source: str, actor: Any = None) -> Hold:
    """Reserve spendable value for a pending sale. InsufficientBalance if short."""
    raise NotImplementedError


def capture_hold(
    *,
    hold: Hold,
    store: Store | None = None,
    actor: Any = None,
    reason: str = "",
    now: datetime | None = None,
) -> Entry:
    """Turn an active hold into a spend entry (the sale is confirmed)."""
    raise NotImplementedError


def release_hold(*, hold: Hold, actor: Any = None) -> Hold:
    """Give a hold's value back to spendable (the sale is voided before confirm). Idempotent."""
    raise NotImplementedError


def reverse(
    *,
    entry: Entry,
    amount: int | None = None,
    store: Store | None = None,
    actor: Any = None,
    source: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> Entry | None:
    """Undo all or `amount` of an entry, never more than what it has left unreversed.

    Reversing a debit gives the units back to the very lots it drew from. Reversing a credit takes
    back what is left of its lot and, if the member already spent some, from other spendable lots,
    never below zero (the shortfall is returned on the entry as `reason`). None when nothing is left.
    """
    raise NotImplementedError


def transfer(
    *,
    source_account: Account,
    target_account: Account,
    actor: Any = None,
    reason: str = "",
    source: str = "",
    now: datetime | None = None,
) -> tuple[Entry, Entry] | None:
    """Move everything (lots with their dates) from one account to another (card replacement)."""
    raise NotImplementedError
