"""What a member holds now, points and stored value (a card family's, when a card is given): the one
read behind the lookup, the quote, the scanner, the portal and the cashier screen (E10)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from tessera.cards.models import Card
from tessera.ledger.models import Account, AccountKind
from tessera.ledger.selectors import with_live_balances
from tessera.members.models import Member


def points_account_of(member: Member) -> Account | None:
    """The member's points account, or None if it was never opened (a read: nothing is created).

    Read with its live counters, so its `spendable` costs no further query."""
    return accounts_of(member, None, stored_value=False)[0]


def stored_value_account_of(member: Member, card: Card | None) -> Account | None:
    """The card family's stored-value account, else the member's own one; None if there is none."""
    return accounts_of(member, card, points=False)[1]


def accounts_of(
    member: Member, card: Card | None, *, points: bool = True, stored_value: bool = True
) -> tuple[Account | None, Account | None]:
    """The member's points account and the stored-value account `stored_value_account_of` names, read
    together in one query with their live counters (None where there is none)."""
    family = card.account_id if card is not None else None
    wanted = Q()
    if points:
        wanted |= Q(member=member, kind=AccountKind.POINTS)
    if stored_value:
        wanted |= Q(pk=family) if family is not None else Q(member=member, kind=AccountKind.STORED_VALUE)
    found = list(with_live_balances(Account.objects.filter(wanted, merchant_id=member.merchant_id)))
    points_account = next(
        (a for a in found if a.kind == AccountKind.POINTS and a.member_id == member.pk and a.pk != family),
        None,
    )
    stored = next(
        (a for a in found if (a.pk == family if family is not None else a.kind == AccountKind.STORED_VALUE)),
        None,
    )
    return points_account, stored


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
    points, stored = accounts_of(member, card)
    return Balances(
        points=points.live_balance if points else 0,
        points_available=points.spendable if points else 0,
        points_pending=points.live_pending if points else 0,
        points_held=points.held if points else 0,
        stored_value=stored.live_balance if stored else None,
        stored_value_available=stored.spendable if stored else None,
    )
