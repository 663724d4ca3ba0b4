"""Ledger test helpers: accounts and value written through the services, so every row is real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.factories import MemberFactory

from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.members.models import Member
from tessera.tenancy.models import Merchant

#: A fixed "now" for tests that reason about dates: 1 March 2026, 10:00 UTC.
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def points_account(merchant: Merchant, member: Member | None = None) -> Account:
    """The points account of `member` (a new member of `merchant` when None)."""
    member = member or MemberFactory(merchant=merchant)
    return ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)


def earn(
    account: Account,
    amount: int,
    *,
    at: datetime = T0,
    expires_in: float | None = None,
    pending_for: float | None = None,
    **kwargs: object,
) -> Entry:
    """Credit `amount` earned `at`, expiring `expires_in` days later, pending `pending_for` days."""
    return ledger.credit(
        account=account,
        amount=amount,
        now=at,
        expires_at=at + days(expires_in) if expires_in is not None else None,
        available_at=at + days(pending_for) if pending_for is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )


def remaining_by_lot(account: Account) -> list[int]:
    """Units left in each of the account's lots, in the order they were created."""
    return list(account.lots.order_by("pk").values_list("remaining", flat=True))
