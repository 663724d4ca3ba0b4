"""Rewards endpoints of the public API (E7, E8): gifts for points, points for promo codes; and the
gifts and promo-code offers in the management API (issue 17), through the back office's forms.

Thin: resolve the merchant (and store) from the API key, find the member, call a service. Every POST
runs through `core.idempotency.idempotent`; consuming a code is also idempotent by `order_ref`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router
from ninja.pagination import paginate
from pydantic import ConfigDict

from tessera.cards.balances import balances_of
from tessera.cards.customers import CustomerIn, identify_cardholder
from tessera.core.api_forms import bound_form, valid_or_refuse
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.etag import tagged
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import MAX_SAFE_INTEGER, Id, Whole
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.members.models import Member
from tessera.rewards import bonuses, selectors, services
from tessera.rewards.admin import GiftForm, PromoCodeOfferForm
from tessera.rewards.models import CodeStatus, Gift, GiftRedemption, PromoCode, PromoCodeOffer, PromoCodeUse
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
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, change_once
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


# --- gifts and their stock in the management API (issue 17) ------------------------------------------

gifts_router = Router(tags=["gifts"], auth=ApiKeyAuth(Scope.ADMIN))


class ManagedGiftOut(GiftOut):
    is_active: bool = Field(description="False: archived, no longer offered.")


class GiftIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Free phở", "points_cost": 500, "stock_change": 100, "per_member_limit": 2}]
        }
    )

    name: str | None = None
    description: str | None = None
    points_cost: Whole | None = None
    per_member_limit: Whole | None = None
    is_active: bool | None = None
    stock_change: Whole | None = Field(
        None, description="Added to the stock left now (negative takes away); redemptions meanwhile are kept."
    )


class StockIn(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"stock_change": 50}]})

    stock_change: Whole = Field(description="Added to the stock left now; negative takes away.")


def _managed_gift_out(gift: Gift) -> ManagedGiftOut:
    return ManagedGiftOut(**_gift_out(gift).dict(), is_active=gift.is_active)


def _gift(ctx: ApiContext, gift_id: int, *, locked: bool = False) -> Gift:
    gifts = Gift.objects.of(ctx.merchant)
    if locked:
        gifts = gifts.select_for_update()
    gift = gifts.filter(pk=gift_id).first()
    if gift is None:
        raise NotFound(_("No such gift."), code="gift_not_found")
    return gift


def _save_gift(ctx: ApiContext, gift: Gift, changes: dict[str, Any]) -> ManagedGiftOut:
    form = bound_form(GiftForm, instance=gift, changes=changes)
    data = valid_or_refuse(form, code="invalid_gift")
    saved = services.save_gift(gift=form.instance, actor=ctx.key, stock_change=data["stock_change"] or 0)
    return _managed_gift_out(saved)


@gifts_router.get(
    "", response={200: list[ManagedGiftOut], **ERRORS}, operation_id="listGifts", summary="List the gifts"
)
@paginate(Page)
def list_managed_gifts(request: ApiRequest) -> Any:
    """Every gift, archived ones included (`is_active` false), cheapest first."""
    return [
        _managed_gift_out(gift)
        for gift in Gift.objects.of(request.auth.merchant).order_by("points_cost", "pk")
    ]


@gifts_router.get(
    "/{gift_id}", response={200: ManagedGiftOut, **ERRORS}, operation_id="getGift", summary="A gift"
)
def get_gift(request: ApiRequest, gift_id: Id, response: HttpResponse) -> ManagedGiftOut:
    shown = _managed_gift_out(_gift(request.auth, gift_id))
    tagged(response, shown)
    return shown


@gifts_router.post(
    "", response={201: ManagedGiftOut, **ERRORS}, operation_id="createGift", summary="Create a gift"
)
def create_gift(request: ApiRequest, data: GiftIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Its first stock is `stock_change` (422 `invalid_gift`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_gift(ctx, Gift(merchant=ctx.merchant, stock=0), data.dict(exclude_unset=True)),
    )


@gifts_router.patch(
    "/{gift_id}",
    response={200: ManagedGiftOut, **CHANGE_ERRORS},
    operation_id="updateGift",
    summary="Change a gift",
)
def update_gift(request: ApiRequest, gift_id: Id, data: GiftIn, response: HttpResponse) -> ManagedGiftOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since, a redemption
    included: to add stock without reading first, use `POST /gifts/{id}/stock`)."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _gift(ctx, gift_id, locked=True),
        shown=_managed_gift_out,
        save=lambda gift: _save_gift(ctx, gift, data.dict(exclude_unset=True)),
    )


@gifts_router.post(
    "/{gift_id}/stock",
    response={200: ManagedGiftOut, **ERRORS},
    operation_id="changeGiftStock",
    summary="Add to a gift's stock",
)
def change_gift_stock(
    request: ApiRequest, gift_id: Id, data: StockIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Adds `stock_change` to what is left now (negative takes away; never below zero), as the back
    office's "add to stock": redemptions meanwhile are kept, so no If-Match is needed."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_gift(ctx, _gift(ctx, gift_id, locked=True), {"stock_change": data.stock_change}),
    )


@gifts_router.post(
    "/{gift_id}/archive",
    response={200: ManagedGiftOut, **ERRORS},
    operation_id="archiveGift",
    summary="Archive a gift",
)
def archive_gift(request: ApiRequest, gift_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """No longer offered; never deleted, as redemptions refer to it."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_gift(ctx, _gift(ctx, gift_id, locked=True), {"is_active": False}),
    )


# --- promo-code offers and the codes issued, in the management API (issue 17) --------------------------

offers_router = Router(tags=["promo codes"], auth=ApiKeyAuth(Scope.ADMIN))
codes_router = Router(tags=["promo codes"], auth=ApiKeyAuth(Scope.ADMIN))


class ManagedOfferOut(OfferOut):
    is_active: bool = Field(description="False: archived, no longer offered to members.")


class OfferIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "50,000 đồng off", "points_cost": 300, "value_kind": "amount", "amount": 50000}
            ]
        }
    )

    name: str | None = None
    points_cost: Whole | None = None
    value_kind: Literal["amount", "percent"] | None = None
    amount: Whole | None = None
    percent: Decimal | None = None
    validity_days: Whole | None = None
    usage_limit: Whole | None = None
    channel: Literal["any", "pos", "online"] | None = None
    is_active: bool | None = None


def _offer_out(offer: PromoCodeOffer) -> ManagedOfferOut:
    return ManagedOfferOut.from_orm(PromoCodeOffer.objects.get(pk=offer.pk))  # decimals as stored


def _offer(ctx: ApiContext, offer_id: int, *, locked: bool = False) -> PromoCodeOffer:
    offers = PromoCodeOffer.objects.of(ctx.merchant)
    if locked:
        offers = offers.select_for_update()
    offer = offers.filter(pk=offer_id).first()
    if offer is None:
        raise NotFound(_("No such offer."), code="offer_not_found")
    return offer


def _save_offer(ctx: ApiContext, offer: PromoCodeOffer, changes: dict[str, Any]) -> ManagedOfferOut:
    form = bound_form(PromoCodeOfferForm, instance=offer, changes=changes)
    valid_or_refuse(form, code="invalid_offer")
    return _offer_out(services.save_offer(offer=form.instance, actor=ctx.key))


@offers_router.get(
    "",
    response={200: list[ManagedOfferOut], **ERRORS},
    operation_id="listPromoCodeOffers",
    summary="List the promo-code offers",
)
@paginate(Page)
def list_managed_offers(request: ApiRequest) -> Any:
    """Every offer, archived ones included (`is_active` false), cheapest first."""
    return PromoCodeOffer.objects.of(request.auth.merchant).order_by("points_cost", "pk")


@offers_router.get(
    "/{offer_id}",
    response={200: ManagedOfferOut, **ERRORS},
    operation_id="getPromoCodeOffer",
    summary="A promo-code offer",
)
def get_offer(request: ApiRequest, offer_id: Id, response: HttpResponse) -> ManagedOfferOut:
    shown = ManagedOfferOut.from_orm(_offer(request.auth, offer_id))
    tagged(response, shown)
    return shown


@offers_router.post(
    "",
    response={201: ManagedOfferOut, **ERRORS},
    operation_id="createPromoCodeOffer",
    summary="Create a promo-code offer",
)
def create_offer(request: ApiRequest, data: OfferIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Members turn `points_cost` points into a code worth `amount` (or `percent`) off (422
    `invalid_offer`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_offer(ctx, PromoCodeOffer(merchant=ctx.merchant), data.dict(exclude_unset=True)),
    )


@offers_router.patch(
    "/{offer_id}",
    response={200: ManagedOfferOut, **CHANGE_ERRORS},
    operation_id="updatePromoCodeOffer",
    summary="Change a promo-code offer",
)
def update_offer(request: ApiRequest, offer_id: Id, data: OfferIn, response: HttpResponse) -> ManagedOfferOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). Codes already
    issued keep their value and dates."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _offer(ctx, offer_id, locked=True),
        shown=ManagedOfferOut.from_orm,
        save=lambda offer: _save_offer(ctx, offer, data.dict(exclude_unset=True)),
    )


@offers_router.post(
    "/{offer_id}/archive",
    response={200: ManagedOfferOut, **ERRORS},
    operation_id="archivePromoCodeOffer",
    summary="Archive a promo-code offer",
)
def archive_offer(request: ApiRequest, offer_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """No longer offered; its codes stay usable, and it is never deleted."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_offer(ctx, _offer(ctx, offer_id, locked=True), {"is_active": False}),
    )


@codes_router.get(
    "",
    response={200: list[PromoCodeOut], **ERRORS},
    operation_id="listPromoCodes",
    summary="List the promo codes issued",
)
@paginate(Page)
def list_codes(
    request: ApiRequest,
    offer_id: int | None = None,
    member_id: int | None = None,
    status: str | None = None,
) -> Any:
    """Newest first; filtered by offer, member or status. A code is issued by `POST
    /rewards/promo-codes` (the member's points) and cancelled by `POST /rewards/promo-codes/{id}/cancel`."""
    # Plain types: ninja's pagination reads the parameters' annotations in its own module.
    if status is not None and status not in CodeStatus.values:
        raise ValidationFailed(
            _("Unknown status; one of: %(statuses)s.") % {"statuses": ", ".join(CodeStatus.values)},
            code="invalid_status",
        )
    codes = PromoCode.objects.of(request.auth.merchant).select_related("member").order_by("-pk")
    if any(pk is not None and not 1 <= pk <= MAX_SAFE_INTEGER for pk in (offer_id, member_id)):
        codes = codes.none()  # no such id
    if offer_id is not None:
        codes = codes.filter(offer_id=offer_id)
    if member_id is not None:
        codes = codes.filter(member_id=member_id)
    if status is not None:
        codes = codes.filter(status=status)
    return _CodePage(codes)


class _CodePage:
    """The page of codes, shown as `PromoCodeOut` once sliced (only the page's rows are read)."""

    def __init__(self, codes: Any) -> None:
        self.codes = codes

    def __len__(self) -> int:
        return int(self.codes.count())

    def __getitem__(self, page: slice) -> list[PromoCodeOut]:
        return [_code_out(code) for code in self.codes[page]]
