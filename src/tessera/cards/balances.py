"""What a member holds now, points and stored value (a card family's, when a card is given): the one
read behind the lookup, the quote, the scanner, the portal and the cashier screen (E10)."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.cards.models import Card
from tessera.ledger.models import Account, AccountKind
from tessera.ledger.selectors import with_live_balances
from tessera.members.models import Member


def points_account_of(member: Member) -> Account | None:
    """The member's points account, or None if it was never opened (a read: nothing is created).

    Read with its live counters, so its `spendable` costs no further query."""
    return with_live_balances(
        Account.objects.filter(merchant_id=member.merchant_id, member=member, kind=AccountKind.POINTS)
    ).first()


def stored_value_account_of(member: Member, card: Card | None) -> Account | None:
    """The card family's stored-value account, else the member's own one; None if there is none."""
    if card is not None and card.account_id is not None:
        return with_live_balances(Account.objects.filter(pk=card.account_id)).first()
    return with_live_balances(
        Account.objects.filter(merchant_id=member.merchant_id, member=member, kind=AccountKind.STORED_VALUE)
    ).first()


@dataclass(frozen=True)
class Balances:
    points: int
    points_available: int
    points_pending: int
    points_held: int
    stored_value: int | None
    stored_value_available: int | None


def balances_of(member: Member, card: Card | None = None) -> Balances:
    """What the member holds and can spend now: units past their expiry are not counted even before
    the nightly job writes them off, so `points_available` is exactly what a spend can take (E10)."""
    points = points_account_of(member)
    stored = stored_value_account_of(member, card)
    return Balances(
        points=points.live_balance if points else 0,
        points_available=points.spendable if points else 0,
        points_pending=points.live_pending if points else 0,
        points_held=points.held if points else 0,
        stored_value=stored.live_balance if stored else None,
        stored_value_available=stored.spendable if stored else None,
    )
