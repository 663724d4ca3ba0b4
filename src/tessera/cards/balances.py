"""What a member holds now, points and stored value (a card family's, when a card is given): the one
read behind the lookup, the quote, the scanner, the portal and the cashier screen (E10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import FilteredRelation, Q, QuerySet
from django.utils import timezone

from tessera.cards.models import Card
from tessera.ledger.models import Account, AccountKind, adopt_live_counts, live_counts
from tessera.ledger.selectors import with_live_balances
from tessera.members.models import Member


def points_account_of(member: Member) -> Account | None:
    """The member's points account, or None if it was never opened (a read: nothing is created).

    Read with its live counters, so its `spendable` costs no further query."""
    return accounts_of(member, None, stored_value=False)[0]


def stored_value_account_of(member: Member, card: Card | None) -> Account | None:
    """The card family's stored-value account, else the member's own one; None if there is none."""
    return accounts_of(member, card, points=False)[1]


#: A member's points account and the stored-value account a card names (see `accounts_of`).
Accounts = tuple[Account | None, Account | None]


def _joined(path: str, kind: AccountKind) -> FilteredRelation:
    return FilteredRelation(path, condition=Q(**{f"{path}__kind": kind}))


def with_own_accounts(members: QuerySet[Member], *, now: datetime | None = None) -> QuerySet[Member]:
    """`members` read with their points and own stored-value accounts (joined, with live counters as of
    `now`), in the same statement; `own_accounts_read(member)` then gives them."""
    now = now or timezone.now()
    return members.annotate(
        points_account=_joined("accounts", AccountKind.POINTS),
        stored_value_account=_joined("accounts", AccountKind.STORED_VALUE),
        **live_counts(now, of="points_account"),
        **live_counts(now, of="stored_value_account"),
    ).select_related("points_account", "stored_value_account")  # type: ignore[misc]  # FilteredRelations


def own_accounts_read(member: Member) -> Accounts:
    """The accounts a member was read with by `with_own_accounts`."""
    return adopt_live_counts(member, "points_account"), adopt_live_counts(member, "stored_value_account")


def with_card_accounts(cards: QuerySet[Card]) -> QuerySet[Card]:
    """`cards` read with their family's stored-value account and their member's points and own
    stored-value accounts (joined, with live counters); `card_accounts_read(card)` then gives them."""
    now = timezone.now()
    return cards.annotate(
        member_points=_joined("member__accounts", AccountKind.POINTS),
        member_stored_value=_joined("member__accounts", AccountKind.STORED_VALUE),
        **live_counts(now, of="account"),
        **live_counts(now, of="member_points"),
        **live_counts(now, of="member_stored_value"),
    ).select_related("account", "member_points", "member_stored_value")  # type: ignore[misc]  # FilteredRelations


def card_accounts_read(card: Card) -> Accounts:
    """The accounts a card was read with by `with_card_accounts`: what `accounts_of(member, card)`
    gives (no points account for a card without a member)."""
    points = adopt_live_counts(card, "member_points") if card.member_id is not None else None
    if card.account_id is not None:
        return points, adopt_live_counts(card, "account")
    stored = adopt_live_counts(card, "member_stored_value") if card.member_id is not None else None
    return points, stored


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


def balances_of(member: Member, card: Card | None = None, *, accounts: Accounts | None = None) -> Balances:
    """What the member holds and can spend now: units past their expiry are not counted even before
    the nightly job writes them off, so `points_available` is exactly what a spend can take (E10).
    `accounts`: as read with the customer (`find_customer(with_accounts=True)`), else read here."""
    points, stored = accounts if accounts is not None else accounts_of(member, card)
    return Balances(
        points=points.live_balance if points else 0,
        points_available=points.spendable if points else 0,
        points_pending=points.live_pending if points else 0,
        points_held=points.held if points else 0,
        stored_value=stored.live_balance if stored else None,
        stored_value_available=stored.spendable if stored else None,
    )
