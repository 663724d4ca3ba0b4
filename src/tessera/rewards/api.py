"""Rewards endpoints of the public API (E7, E8): gifts for points, points for promo codes.

Thin: resolve the merchant (and store) from the API key, find the member, call a service. Every POST
runs through `core.idempotency.idempotent`; consuming a code is also idempotent by `order_ref`.
"""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Router

from tessera.cards.balances import balances_of
from tessera.cards.customers import CustomerIn, identify_cardholder
from tessera.core.idempotency import idempotent, key_header
from tessera.core.problem import ERRORS
from tessera.members.models import Member
from tessera.rewards import bonuses, selectors, services
from tessera.rewards.models import Gift, GiftRedemption, PromoCode, PromoCodeUse
from tessera.rewards.schemas import (
    CancelIn,
    CodeCheckIn,
    CodeCheckOut,
    CodeConsumeIn,
    CodeUseOut,
    EventBonusOut,
    EventIn,
    EventOut,
    EventRefusalOut,
    GiftOut,
    OfferOut,
    PromoCodeIn,
    PromoCodeOut,
    RedemptionIn,
    RedemptionOut,
)
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["rewards"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))
#: Mounted at /events by `tessera.api`.
events_router = Router(tags=["rewards"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


def _member(request: ApiRequest, data: CustomerIn) -> Member:
    return identify_cardholder(merchant=request.auth.merchant, given=data).member


def _gift_out(gift: Gift) -> GiftOut:
    return GiftOut(
        id=gift.pk,
        name=gift.name,
        description=gift.description,
        points_cost=gift.points_cost,
        stock=gift.stock,
        per_member_limit=gift.per_member_limit,
        image_url=gift.image.url if gift.image else None,
    )


def _redemption_out(redemption: GiftRedemption) -> RedemptionOut:
    return RedemptionOut(
        id=redemption.pk,
        member_id=redemption.member_id,
        gift_id=redemption.gift_id,
        gift_name=redemption.gift.name,
        quantity=redemption.quantity,
        points=redemption.points,
        status=redemption.status,  # type: ignore[arg-type]
        points_available=balances_of(redemption.member).points_available,
        created_at=redemption.created_at,
    )


def _code_out(code: PromoCode) -> PromoCodeOut:
    return PromoCodeOut(
        id=code.pk,
        code=code.code,
        member_id=code.member_id,
        value_kind=code.value_kind,  # type: ignore[arg-type]
        amount=code.amount,
        percent=code.percent,
        channel=code.channel,  # type: ignore[arg-type]
        valid_until=code.valid_until,
        usage_limit=code.usage_limit,
        uses_left=code.uses_left,
        points=code.points,
        status=code.status,  # type: ignore[arg-type]
        points_available=balances_of(code.member).points_available,
    )


def _use_out(use: PromoCodeUse) -> CodeUseOut:
    code = PromoCode.objects.get(pk=use.promo_code_id)
    return CodeUseOut(
        id=use.pk,
        code=code.code,
        order_ref=use.order_ref,
        order_amount=use.order_amount,
        discount=use.discount,
        uses_left=code.uses_left,
        created_at=use.created_at,
    )


# --- gifts (E7) ---------------------------------------------------------------------------------------


@router.get("/gifts", response={200: list[GiftOut], **ERRORS}, summary="The gift catalogue")
def list_gifts(request: ApiRequest) -> list[GiftOut]:
    """The merchant's active gifts with their points cost, stock and per-member limit."""
    return [_gift_out(gift) for gift in selectors.gifts_of(request.auth.merchant)]


@router.post(
    "/gift-redemptions", response={201: RedemptionOut, **ERRORS}, summary="Exchange points for a gift"
)
def request_gift(
    request: ApiRequest, data: RedemptionIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Spends the points and takes the gift from stock at once (409 `out_of_stock`, 422
    `gift_limit_reached`, 409 `insufficient_balance`); staff hand it over and mark it fulfilled."""

    def work() -> tuple[int, RedemptionOut]:
        redemption = services.request_gift(
            member=_member(request, data),
            gift=selectors.get_gift(merchant=request.auth.merchant, pk=data.gift_id),
            quantity=data.quantity,
            store=request.auth.named_store(data.store_code),
        )
        return 201, _redemption_out(redemption)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/gift-redemptions/{redemption_id}/cancel",
    response={200: RedemptionOut, **ERRORS},
    summary="Cancel a gift redemption",
)
def cancel_gift_redemption(
    request: ApiRequest, redemption_id: int, data: CancelIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """A requested redemption only (409 `not_requested`): the points and the stock come back."""

    def work() -> tuple[int, RedemptionOut]:
        redemption = selectors.get_redemption(merchant=request.auth.merchant, pk=redemption_id)
        services.cancel_gift_redemption(redemption=redemption, reason=data.reason)
        return 200, _redemption_out(redemption)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


# --- promo codes (E8) ---------------------------------------------------------------------------------


@router.get("/promo-code-offers", response={200: list[OfferOut], **ERRORS}, summary="Points-for-code offers")
def list_offers(request: ApiRequest) -> list[OfferOut]:
    """What members may turn points into: the merchant's active offers, cheapest first."""
    offers = selectors.active_offers(request.auth.merchant)
    return [
        OfferOut(
            id=o.pk,
            name=o.name,
            points_cost=o.points_cost,
            value_kind=o.value_kind,  # type: ignore[arg-type]
            amount=o.amount,
            percent=o.percent,
            validity_days=o.validity_days,
            usage_limit=o.usage_limit,
            channel=o.channel,  # type: ignore[arg-type]
        )
        for o in offers
    ]


@router.post("/promo-codes", response={201: PromoCodeOut, **ERRORS}, summary="Turn points into a promo code")
def redeem_points_for_code(
    request: ApiRequest, data: PromoCodeIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Spends the offer's points and issues the member a new unique code (409 `insufficient_balance`)."""

    def work() -> tuple[int, PromoCodeOut]:
        code = services.redeem_points_for_code(
            member=_member(request, data),
            offer=selectors.get_offer(merchant=request.auth.merchant, pk=data.offer_id),
            channel=data.channel,
        )
        return 201, _code_out(code)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post(
    "/promo-codes/{code_id}/cancel", response={200: PromoCodeOut, **ERRORS}, summary="Cancel a promo code"
)
def cancel_promo_code(
    request: ApiRequest, code_id: int, data: CancelIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """An unused, unexpired code only: the points spent on it come back. Errors: 404 `code_not_found`,
    409 `code_cancelled`, 409 `code_already_used`, 422 `code_expired`."""

    def work() -> tuple[int, PromoCodeOut]:
        code = selectors.get_promo_code(merchant=request.auth.merchant, pk=code_id)
        services.cancel_promo_code(code=code, reason=data.reason)
        return 200, _code_out(code)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post("/promo-codes/validate", response={200: CodeCheckOut, **ERRORS}, summary="Check a promo code")
def validate_code(
    request: ApiRequest, data: CodeCheckIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """What the code takes off an order of `amount`; changes nothing. Errors: 404 `code_not_found`,
    422 `code_expired`, 409 `code_used_up`, 422 `code_wrong_channel`."""

    def work() -> tuple[int, CodeCheckOut]:
        check = services.validate_code(
            merchant=request.auth.merchant, code=data.code, amount=data.amount, channel=data.channel
        )
        return 200, CodeCheckOut(**check.__dict__)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@router.post("/promo-codes/consume", response={200: CodeUseOut, **ERRORS}, summary="Use a promo code")
def consume_code(
    request: ApiRequest, data: CodeConsumeIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Uses the code once for `order_ref`, exactly once: a retry for the same order returns the same use.
    Same errors as validate."""

    def work() -> tuple[int, CodeUseOut]:
        use = services.consume_code(
            merchant=request.auth.merchant,
            code=data.code,
            order_ref=data.order_ref,
            amount=data.amount,
            channel=data.channel,
            store=request.auth.store,
        )
        return 200, _use_out(use)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


# --- custom events (issue 15 §5) ---------------------------------------------------------------------


@events_router.post("", response={201: EventOut, **ERRORS}, summary="Record a member's event")
def record_event(request: ApiRequest, data: EventIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Something the member did other than buying (`app_installed`, `review_written`, …): the points of
    every bonus rule in force for this type, each within its per-member limits and its budget. A type
    no rule names earns nothing (201, `points` 0). Send each event once with its own key: a retry with
    the same key replays the answer and gives nothing twice."""

    def work() -> tuple[int, EventOut]:
        member = _member(request, data)
        outcome = bonuses.record_event(
            merchant=request.auth.merchant,
            member=member,
            event_type=data.type,
            store=request.auth.named_store(data.store_code),
        )
        return 201, EventOut(
            type=data.type,
            member_id=member.pk,
            points=outcome.points,
            awarded=[EventBonusOut(**vars(grant)) for grant in outcome.awarded],
            not_awarded=[EventRefusalOut(**vars(refusal)) for refusal in outcome.not_awarded],
            points_available=balances_of(member).points_available,
        )

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)
