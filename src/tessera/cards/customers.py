"""Who is at the till: "card_code, phone or member_id" → the member and card (E1, issue 13).

One resolver for every API module that takes a customer (sales, rules, rewards). It lives in `cards`,
the lowest app that knows both cards and members, so none of its readers climbs up to `sales` for it.
Only the merchant's own cards and members are ever found; another merchant's are "not found".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema

from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.limits import Id
from tessera.members.models import Member
from tessera.members.selectors import find_member_by_phone
from tessera.tenancy.models import Merchant


class CustomerIn(Schema):
    """Who buys: a card number or QR payload, a phone number, or a member id from a lookup."""

    card_code: str | None = Field(None, examples=["8800000000017"])
    phone: str | None = Field(None, examples=["0903123456"])
    member_id: Id | None = None


@dataclass(frozen=True)
class Customer:
    """Who a scanned card or typed phone number points at. A stock card has no member yet."""

    member: Member | None
    card: Card | None


@dataclass(frozen=True)
class Cardholder:
    """A customer who is a member: what sales, points, simulations and rewards act on."""

    member: Member
    card: Card | None


def find_customer(
    *, merchant: Merchant, code: str | None = None, phone: str | None = None, member_id: int | None = None
) -> Customer:
    """By card number or QR payload, else by phone, else by member id; NotFound when nothing matches."""
    if code:
        card = find_card(merchant=merchant, code=code)
        if card is None:
            raise NotFound(_("No card with this number."), code="card_not_found")
        return Customer(member=card.member, card=card)
    member = None
    if phone:
        member = find_member_by_phone(merchant=merchant, phone=phone)
    elif member_id is not None:
        member = (
            Member.objects.of(merchant)
            .filter(pk=member_id, superseded_by__isnull=True, erased_at__isnull=True)
            .first()
        )
    if member is None:
        raise NotFound(_("No member found."), code="member_not_found")
    return Customer(member=member, card=None)


def identify_cardholder(*, merchant: Merchant, given: CustomerIn) -> Cardholder:
    """The member a request's `card_code`, `phone` or `member_id` names: 422 `customer_required` when
    it names none, 404 when nothing matches, 422 `card_not_assigned` for a stock card."""
    if not (given.card_code or given.phone or given.member_id):
        raise ValidationFailed(_("Give a card_code, a phone or a member_id."), code="customer_required")
    customer = find_customer(
        merchant=merchant, code=given.card_code, phone=given.phone, member_id=given.member_id
    )
    if customer.member is None:
        raise ValidationFailed(_("This card is not given to a member yet."), code="card_not_assigned")
    return Cardholder(member=customer.member, card=customer.card)
