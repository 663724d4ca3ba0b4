"""Tiers endpoints of the public API: the merchant's tiers and a member's tier status (F1, F2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from ninja import Field, Router, Schema

from tessera.core.errors import NotFound
from tessera.core.problem import ERRORS
from tessera.members.models import Member
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope
from tessera.tiers.models import Basis, Downgrade, Hold, Review, Window
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
