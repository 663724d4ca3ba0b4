"""Tier benefits at the till. Neutral until the tiers issue (F1) fills `tier_benefits` in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tessera.members.models import Member
from tessera.tenancy.models import Store


@dataclass(frozen=True)
class Benefit:
    code: str
    label: str


@dataclass(frozen=True)
class TierBenefits:
    tier: str | None = None
    discount_percent: Decimal = Decimal(0)
    benefits: list[Benefit] = field(default_factory=list)


def tier_benefits(*, member: Member, store: Store, at: datetime) -> TierBenefits:
    """The member's discount and perks today: none until tiers exist."""
    return TierBenefits()
