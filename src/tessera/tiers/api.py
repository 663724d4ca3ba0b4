"""Tiers endpoints of the public API: the merchant's tiers and a member's tier status (F1, F2); the tier
program and its tiers in the management API (issue 17), through the back office's forms and services."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router
from ninja.pagination import paginate
from pydantic import ConfigDict

from tessera.core.api_forms import bound_form, for_api, valid_or_refuse
from tessera.core.errors import NotFound
from tessera.core.etag import tagged
from tessera.core.idempotency import key_header
from tessera.core.limits import Id, Whole
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.members.models import Member
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, change_once
from tessera.tenancy.models import Scope
from tessera.tiers import services
from tessera.tiers.admin import TierForm, TierProgramForm
from tessera.tiers.models import Basis, Downgrade, Hold, Review, Tier, TierProgram, Window
from tessera.tiers.selectors import TierInfo, tier_status, tiers_of

router = Router(tags=["tiers"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class TierOut(Schema):
    code: str
    name: str
    rank: int = Field(description="1 is the lowest tier.")
    threshold: int = Field(description="Ranking spend (minor units of the currency) or points to reach it.")
    discount_percent: Decimal
    earning_multiplier: Decimal
    reward_points: int

    @staticmethod
    def of(info: TierInfo | None) -> TierOut | None:
        if info is None:
            return None
        return TierOut(
            code=info.code,
            name=info.name,
            rank=info.rank,
            threshold=info.threshold,
            discount_percent=info.discount_percent,
            earning_multiplier=info.earning_multiplier,
            reward_points=info.reward_points,
        )


class TierStatusOut(Schema):
    member_id: int
    has_program: bool
    basis: Basis | None = Field(description="What ranks members: spend or points.")
    window: Window | None
    window_months: int | None
    window_start: datetime | None = Field(description="Ranking is counted from here (null: from the start).")
    window_end: datetime
    ranking: int = Field(description="Ranking spend (minor units) or ranking points in the window.")
    tier: TierOut | None
    since: datetime | None
    earned_tier: TierOut | None = Field(description="The tier the ranking alone reaches.")
    hold: Hold = Field(description="A manual change keeps the tier until the ranking earns a higher one.")
    hold_reference: TierOut | None
    next_tier: TierOut | None
    missing: int = Field(description="What the ranking lacks to reach `next_tier`.")
    review: Review | None = Field(description="When reviews may lower tiers.")
    downgrade: Downgrade | None = Field(description="How far a review lowers a tier.")
    hold_months: int = Field(description="How long a tier reached is kept whatever the ranking (0: no hold).")
    held_until: datetime | None = Field(
        description="The hold after reaching the tier ends here (null: none)."
    )
    drop_review_at: datetime | None = Field(
        description="The first review that may lower the tier (null: no tier, or a manual hold keeps it)."
    )
    drop_ranking: int = Field(description="What that review would count of the ranking as it stands now.")
    will_drop: bool = Field(description="Whether that review would lower the tier, if nothing more is spent.")
    drops_to: TierOut | None = Field(description="The tier it would lower the member to (null: no tier).")


@router.get("", response={200: list[TierOut], **ERRORS}, summary="List the merchant's tiers")
def list_tiers(request: ApiRequest) -> list[TierOut]:
    """Lowest first."""
    merchant = request.auth.merchant
    return [TierOut.of(TierInfo.of(t)) for t in tiers_of(merchant)]  # type: ignore[misc]


@router.get(
    "/members/{member_id}", response={200: TierStatusOut, **ERRORS}, summary="A member's tier and progress"
)
def member_tier(request: ApiRequest, member_id: int) -> TierStatusOut:
    """The current tier, the ranking in the window, any hold, the next tier and what is missing."""
    member = Member.objects.of(request.auth.merchant).filter(pk=member_id).first()
    if member is None:
        raise NotFound(_("No such member."), code="member_not_found")
    status = tier_status(member)
    return TierStatusOut(
        member_id=status.member_id,
        has_program=status.has_program,
        basis=status.basis,
        window=status.window,
        window_months=status.window_months,
        window_start=status.window_start,
        window_end=status.window_end,
        ranking=status.ranking,
        tier=TierOut.of(status.tier),
        since=status.since,
        earned_tier=TierOut.of(status.earned_tier),
        hold=status.hold,
        hold_reference=TierOut.of(status.hold_reference),
        next_tier=TierOut.of(status.next_tier),
        missing=status.missing,
        review=status.review,
        downgrade=status.downgrade,
        hold_months=status.hold_months,
        held_until=status.held_until,
        drop_review_at=status.drop_review_at,
        drop_ranking=status.drop_ranking,
        will_drop=status.will_drop,
        drops_to=TierOut.of(status.drops_to),
    )


# --- the tier program and its tiers in the management API (issue 17) ---------------------------------

manage_router = Router(tags=["tier program"], auth=ApiKeyAuth(Scope.ADMIN))


class ProgramOut(Schema):
    basis: Basis
    window: Window
    window_months: int
    review: Review
    review_month: int
    review_day: int
    hold_months: int
    downgrade: Downgrade
    downgrade_notice_days: int
    is_active: bool


class ProgramIn(Schema):
    """The fields to set; on a change, those not sent stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"basis": "spend", "window": "rolling_months", "window_months": 12}]}
    )

    basis: Basis | None = None
    window: Window | None = None
    window_months: Whole | None = None
    review: Review | None = None
    review_month: Whole | None = None
    review_day: Whole | None = None
    hold_months: Whole | None = None
    downgrade: Downgrade | None = None
    downgrade_notice_days: Whole | None = None
    is_active: bool | None = None


class ManagedTierOut(Schema):
    id: int
    code: str
    name: str
    rank: int = Field(description="1 is the lowest tier.")
    threshold: int = Field(description="Ranking spend (minor units) or points to reach it.")
    discount_percent: Decimal
    earning_multiplier: Decimal
    reward_points: int
    description: str


class TierIn(Schema):
    """The fields to set; on a change, those not sent stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "gold", "name": "Gold", "rank": 3, "threshold": 20000000, "discount_percent": "5"}
            ]
        }
    )

    code: str | None = None
    name: str | None = None
    rank: Whole | None = None
    threshold: Whole | None = None
    discount_percent: Decimal | None = None
    earning_multiplier: Decimal | None = None
    reward_points: Whole | None = None
    description: str | None = None


def _program(ctx: ApiContext, *, locked: bool = False) -> TierProgram:
    programs = TierProgram.objects.of(ctx.merchant)
    if locked:
        programs = programs.select_for_update()
    program = programs.first()
    if program is None:
        raise NotFound(_("This merchant has no tier program yet."), code="tier_program_not_found")
    return program


def _tier(ctx: ApiContext, tier_id: int, *, locked: bool = False) -> Tier:
    tiers = Tier.objects.of(ctx.merchant)
    if locked:
        tiers = tiers.select_for_update()
    tier = tiers.filter(pk=tier_id).first()
    if tier is None:
        raise NotFound(_("No such tier."), code="tier_not_found")
    return tier


def _save_program(ctx: ApiContext, program: TierProgram, data: ProgramIn) -> ProgramOut:
    form = bound_form(for_api(TierProgramForm), instance=program, changes=data.dict(exclude_unset=True))
    valid_or_refuse(form, code="invalid_tier_program")
    services.save_program(program=form.instance, actor=ctx.key)
    return ProgramOut.from_orm(_program(ctx))


def _save_tier(ctx: ApiContext, tier: Tier, data: TierIn) -> ManagedTierOut:
    form_class = for_api(TierForm, merchant_id=ctx.merchant.pk)
    form = bound_form(form_class, instance=tier, changes=data.dict(exclude_unset=True))
    valid_or_refuse(form, code="invalid_tier")
    saved = services.save_tier(tier=form.instance, actor=ctx.key)
    return ManagedTierOut.from_orm(_tier(ctx, saved.pk))  # as stored: decimals as the database holds them


@manage_router.get(
    "", response={200: ProgramOut, **ERRORS}, operation_id="getTierProgram", summary="The tier program"
)
def get_program(request: ApiRequest, response: HttpResponse) -> ProgramOut:
    """What ranks members, over which window, and when reviews may lower tiers (404
    `tier_program_not_found` before one is created)."""
    shown = ProgramOut.from_orm(_program(request.auth))
    tagged(response, shown)
    return shown


@manage_router.post(
    "",
    response={201: ProgramOut, **ERRORS},
    operation_id="createTierProgram",
    summary="Start the tier program",
)
def create_program(request: ApiRequest, data: ProgramIn, idempotency_key: str = key_header()) -> HttpResponse:
    """One per merchant (422 `program_exists` for a second one)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_program(ctx, TierProgram(merchant=ctx.merchant), data),
    )


@manage_router.patch(
    "",
    response={200: ProgramOut, **CHANGE_ERRORS},
    operation_id="updateTierProgram",
    summary="Change the tier program",
)
def update_program(request: ApiRequest, data: ProgramIn, response: HttpResponse) -> ProgramOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). `is_active`
    false pauses the program."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _program(ctx, locked=True),
        shown=ProgramOut.from_orm,
        save=lambda program: _save_program(ctx, program, data),
    )


@manage_router.get(
    "/tiers",
    response={200: list[ManagedTierOut], **ERRORS},
    operation_id="listTiers",
    summary="List the tiers",
)
@paginate(Page)
def list_managed_tiers(request: ApiRequest) -> Any:
    """Lowest first."""
    return Tier.objects.of(request.auth.merchant).order_by("rank")


@manage_router.get(
    "/tiers/{tier_id}", response={200: ManagedTierOut, **ERRORS}, operation_id="getTier", summary="A tier"
)
def get_tier(request: ApiRequest, tier_id: Id, response: HttpResponse) -> ManagedTierOut:
    shown = ManagedTierOut.from_orm(_tier(request.auth, tier_id))
    tagged(response, shown)
    return shown


@manage_router.post(
    "/tiers", response={201: ManagedTierOut, **ERRORS}, operation_id="createTier", summary="Create a tier"
)
def create_tier(request: ApiRequest, data: TierIn, idempotency_key: str = key_header()) -> HttpResponse:
    """A higher rank needs a higher threshold; codes and ranks are unique (422 `invalid_tier`)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_tier(ctx, Tier(merchant=ctx.merchant), data),
    )


@manage_router.patch(
    "/tiers/{tier_id}",
    response={200: ManagedTierOut, **CHANGE_ERRORS},
    operation_id="updateTier",
    summary="Change a tier",
)
def update_tier(request: ApiRequest, tier_id: Id, data: TierIn, response: HttpResponse) -> ManagedTierOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). Tiers are never
    deleted: members and their history point at them."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _tier(ctx, tier_id, locked=True),
        shown=ManagedTierOut.from_orm,
        save=lambda tier: _save_tier(ctx, tier, data),
    )
