"""Who is at the till: "card_code, phone or member_id" → the member and card (E1, issue 13).

One resolver for every API module that takes a customer (sales, rules, rewards). It lives in `cards`,
the lowest app that knows both cards and members, so none of its readers climbs up to `sales` for it.
Only the merchant's own cards and members are ever found; another merchant's are "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field

from tessera.cards.balances import Accounts, card_accounts_read, own_accounts_read, with_own_accounts
from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.limits import Id
from tessera.core.prepared import Prepared
from tessera.core.schemas import Schema
from tessera.ledger.locks import mark_locked
from tessera.ledger.models import Account, AccountKind
from tessera.ledger.selectors import with_live_balances
from tessera.members.models import Member
from tessera.members.selectors import current_members, phone_e164
from tessera.tenancy.models import Merchant


class CustomerIn(Schema):
    """Who buys: a card number or QR payload, a phone number, or a member id from a lookup."""

    card_code: str | None = Field(None, examples=["8800000000017"])
    phone: str | None = Field(None, examples=["0903123456"])
    member_id: Id | None = None


@dataclass(frozen=True)
class Customer:
    """Who a scanned card or typed phone number points at. A stock card has no member yet.

    `accounts`, when asked for (`with_accounts`): the member's points account and the stored-value
    account the card names (its family's, else the member's own), read in the statement that found the
    customer, with their live counters; None where there is none. Read before any write of the
    request: a caller that writes reads balances again."""

    member: Member | None
    card: Card | None
    accounts: Accounts | None = None


@dataclass(frozen=True)
class Cardholder:
    """A customer who is a member: what sales, points, simulations and rewards act on."""

    member: Member
    card: Card | None
    accounts: Accounts | None = None
    #: With `lock_points`: the member's points account, locked for the rest of the transaction in the
    #: statement that found the member (`ledger.locks`); None when it does not exist yet.
    points_account: Account | None = None


def find_customer(
    *,
    merchant: Merchant,
    code: str | None = None,
    phone: str | None = None,
    member_id: int | None = None,
    with_accounts: bool = False,
) -> Customer:
    """By card number or QR payload, else by phone, else by member id; NotFound when nothing matches.
    One statement, with the accounts too when `with_accounts`."""
    if code:
        return _by_card(merchant, code, with_accounts)
    named = _named(merchant, phone, member_id)
    member = None
    if named is not None:
        by, value = named
        if with_accounts:
            found = _WITH_ACCOUNTS[by](merchant_id=merchant.pk, value=value, now=timezone.now())
        else:
            found = _PLAIN[by](merchant_id=merchant.pk, value=value)
        member = found[0] if found else None
    if member is None:
        raise NotFound(_("No member found."), code="member_not_found")
    member.merchant = merchant  # the caller's instance: no second query for it on the hot POS path
    accounts = own_accounts_read(member) if with_accounts else None
    return Customer(member=member, card=None, accounts=accounts)


def _named(merchant: Merchant, phone: str | None, member_id: int | None) -> tuple[str, str | int] | None:
    """How the member is named: ("phone", E.164) or ("pk", id); None for a phone that is no number."""
    if phone:
        e164 = phone_e164(merchant=merchant, phone=phone)
        return ("phone", e164) if e164 is not None else None
    if member_id is not None:
        return ("pk", member_id)
    return None


# The till's reads of a member, compiled once per process (core.prepared): by phone or by id.
_WITH_ACCOUNTS = {
    by: Prepared(
        lambda merchant_id, value, now, by=by: with_own_accounts(
            current_members(merchant_id).filter(**{by: value}), now=now
        )[:1],
        merchant_id=int,
        value=kind,
        now=datetime,
    )
    for by, kind in (("phone", str), ("pk", int))
}
_PLAIN = {
    by: Prepared(
        lambda merchant_id, value, by=by: current_members(merchant_id).filter(**{by: value})[:1],
        merchant_id=int,
        value=kind,
    )
    for by, kind in (("phone", str), ("pk", int))
}
_LOCKING: dict[tuple[str, tuple[str, ...]], Prepared[Account]] = {}


def _locking(by: str, related: tuple[str, ...]) -> Prepared[Account]:
    """The member's points account, locked, with the member (and `related` of the member)."""
    if (by, related) not in _LOCKING:
        kind: type = str if by == "phone" else int
        _LOCKING[by, related] = Prepared(
            lambda merchant_id, value, now: with_live_balances(
                Account.objects.select_for_update(of=("self",))
                .filter(
                    merchant_id=merchant_id,
                    kind=AccountKind.POINTS,
                    member__in=current_members(merchant_id).filter(**{by: value}),
                )
                .select_related("member", *(f"member__{path}" for path in related))
                .order_by(),
                now=now,
            ),
            merchant_id=int,
            value=kind,
            now=datetime,
        )
    return _LOCKING[by, related]


def _by_card(merchant: Merchant, code: str, with_accounts: bool) -> Customer:
    card = find_card(merchant=merchant, code=code, with_accounts=with_accounts)
    if card is None:
        raise NotFound(_("No card with this number."), code="card_not_found")
    accounts = card_accounts_read(card) if with_accounts else None
    return Customer(member=card.member, card=card, accounts=accounts)


def identify_cardholder(
    *,
    merchant: Merchant,
    given: CustomerIn,
    with_accounts: bool = False,
    lock_points: bool = False,
    member_related: tuple[str, ...] = (),
) -> Cardholder:
    """The member a request's `card_code`, `phone` or `member_id` names: 422 `customer_required` when
    it names none, 404 when nothing matches, 422 `card_not_assigned` for a stock card.

    `lock_points` (inside a transaction, before writing points): find the member by locking their
    points account, one statement for both (by phone or member id; a card is read first), with the
    member's relations `member_related` (paths from the member, for `select_related`)."""
    if not (given.card_code or given.phone or given.member_id):
        raise ValidationFailed(_("Give a card_code, a phone or a member_id."), code="customer_required")
    if lock_points and not given.card_code:
        named = _named(merchant, given.phone, given.member_id)
        if named is not None:
            by, value = named
            found = mark_locked(
                _locking(by, member_related)(merchant_id=merchant.pk, value=value, now=timezone.now())
            )
            if found:
                member = found[0].member
                assert member is not None
                member.merchant = merchant
                return Cardholder(member=member, card=None, points_account=found[0])
    customer = find_customer(
        merchant=merchant,
        code=given.card_code,
        phone=given.phone,
        member_id=given.member_id,
        with_accounts=with_accounts,
    )
    if customer.member is None:
        raise ValidationFailed(_("This card is not given to a member yet."), code="card_not_assigned")
    return Cardholder(member=customer.member, card=customer.card, accounts=customer.accounts)
