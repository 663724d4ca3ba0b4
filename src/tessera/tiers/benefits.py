"""Tier benefits at the till (E1, F1): the member's current tier's discount and earning multiplier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from tessera.members.models import Member, MemberStatus
from tessera.tenancy.models import Store
from tessera.tiers.selectors import current_tier


@dataclass(frozen=True)
class Benefit:
    code: str
    label: str


@dataclass(frozen=True)
class TierBenefits:
    """`tier` is the tier's code (None: no tier); `earning_multiplier` scales the points a sale earns."""

    tier: str | None = None
    discount_percent: Decimal = Decimal(0)
    benefits: list[Benefit] = field(default_factory=list)
    tier_name: str = ""
    earning_multiplier: Decimal = Decimal(1)


def tier_benefits(*, member: Member, store: Store, at: datetime) -> TierBenefits:
    """The member's tier perks now. None for a member who may not use them (C2: not active, replaced)."""
    if member.status != MemberStatus.ACTIVE or not member.is_current:
        return TierBenefits()
    tier = current_tier(member)
    if tier is None:
        return TierBenefits()
    perks = []
    if tier.discount_percent:
        perks.append(
            Benefit(
                code="tier_discount",
                label=_("%(tier)s: %(percent)s%% off")
                % {"tier": tier.name, "percent": tier.discount_percent.normalize()},
            )
        )
    if tier.earning_multiplier != 1:
        perks.append(
            Benefit(
                code="tier_earning_multiplier",
                label=_("%(tier)s: points × %(multiplier)s")
                % {"tier": tier.name, "multiplier": tier.earning_multiplier.normalize()},
            )
        )
    return TierBenefits(
        tier=tier.code,
        discount_percent=tier.discount_percent,
        benefits=perks,
        tier_name=tier.name,
        earning_multiplier=tier.earning_multiplier,
    )
