"""Who is at the till: "card_code, phone or member_id" → the member and card (E1, issue 13).

One resolver for every API module that takes a customer (sales, rules, rewards). It lives in `cards`,
the lowest app that knows both cards and members, so none of its readers climbs up to `sales` for it.
Only the merchant's own cards and members are ever found; another merchant's are "not found".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema

from tessera.cards.balances import Accounts, card_accounts_read, own_accounts_read, with_own_accounts
from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.limits import Id
from tessera.ledger.locks import lock_accounts
from tessera.ledger.models import Account, AccountKind
from tessera.members.models import Member
from tessera.members.selectors import current_member, members_by_phone
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
    members = None
    if phone:
        members = members_by_phone(merchant=merchant, phone=phone)
    elif member_id is not None:
        members = current_member(merchant=merchant, member_id=member_id)
    if with_accounts and members is not None:
        members = with_own_accounts(members)
    member = members.first() if members is not None else None
    if member is None:
        raise NotFound(_("No member found."), code="member_not_found")
    member.merchant = merchant  # the caller's instance: no second query for it on the hot POS path
    accounts = own_accounts_read(member) if with_accounts else None
    return Customer(member=member, card=None, accounts=accounts)


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
        members = (
            members_by_phone(merchant=merchant, phone=given.phone)
            if given.phone
            else current_member(merchant=merchant, member_id=given.member_id or 0)
        )
        if members is not None:
            found = lock_accounts(
                Account.objects.filter(merchant=merchant, kind=AccountKind.POINTS, member__in=members)
                .select_related("member", *(f"member__{path}" for path in member_related))
                .order_by()
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
