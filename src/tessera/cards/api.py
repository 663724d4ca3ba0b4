"""Card endpoints of the public API (D2, D3): look a card up, activate an anonymous one.

`{number}` is the card number as printed or typed (spaces and dashes ignored) or the QR payload
`TSR1:<number>`. Only the API key's merchant's cards are ever found.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema

from tessera.cards import selectors, services
from tessera.cards.models import Card, CardKind, CardStatus
from tessera.core.errors import NotFound
from tessera.core.idempotency import idempotent, key_header
from tessera.core.problem import ERRORS
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["cards"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class CardTypeOut(Schema):
    id: int
    name: str
    kind: CardKind
    discount_percent: Decimal | None = Field(description="For discount cards, e.g. 10.00 for 10 %.")
    benefits: str
    level: int


class BalancesOut(Schema):
    points: int | None = Field(description="The member's points; null when the card has no member.")
    stored_value: int | None = Field(
        description="Stored value of the card family, in the currency's minor unit; null if none."
    )


class CardOut(Schema):
    number: str
    status: CardStatus
    usable: bool = Field(
        description="True only for an active card: lost, blocked and stock cards are refused."
    )
    type: CardTypeOut
    member_id: int | None
    main_card_number: str | None = Field(description="Set on a sub-card: the card whose account it shares.")
    store_id: int | None
    balances: BalancesOut

    @staticmethod
    def from_card(card: Card) -> CardOut:
        balances = selectors.card_balances(card)
        return CardOut(
            number=card.number,
            status=CardStatus(card.status),
            usable=card.is_usable,
            type=CardTypeOut(
                id=card.type.pk,
                name=card.type.name,
                kind=CardKind(card.type.kind),
                discount_percent=card.type.discount_percent,
                benefits=card.type.benefits,
                level=card.type.level,
            ),
            member_id=card.member_id,
            main_card_number=card.parent.number if card.parent else None,
            store_id=card.store_id,
            balances=BalancesOut(points=balances.points, stored_value=balances.stored_value),
        )


class ActivateIn(Schema):
    phone: str = Field(
        max_length=30, description="The customer's phone; local numbers read in the merchant's country."
    )


def _card(request: ApiRequest, number: str) -> Card:
    card = selectors.find_card(merchant=request.auth.merchant, code=number)
    if card is None:
        raise NotFound(_("No card with this number."), code="card_not_found")
    return card


@router.get("/{number}", response={200: CardOut, **ERRORS}, summary="Look up a card")
def get_card(request: ApiRequest, number: str) -> CardOut:
    return CardOut.from_card(_card(request, number))


@router.post(
    "/{number}/activate",
    response={200: CardOut, **ERRORS},
    summary="Activate an anonymous card for a phone",
    description="Binds a pre-issued card to the member with this phone, registering the member if new (D3). "
    "Activating again with the same phone answers the same card. Cards sold under controlled issuance "
    "answer 409 `sale_required`.",
)
def activate(
    request: ApiRequest,
    number: str,
    payload: ActivateIn,
    idempotency_key: str = key_header(),
) -> HttpResponse:
    merchant = request.auth.merchant

    def work() -> tuple[int, CardOut]:
        card = services.activate_card(
            card=_card(request, number),
            phone=payload.phone,
            actor=None,
            store=request.auth.store,
        )
        return 200, CardOut.from_card(card)

    return idempotent(request, merchant=merchant, key=idempotency_key, work=work)
