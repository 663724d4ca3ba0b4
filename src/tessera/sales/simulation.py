"""The simulator's view of a purchase beyond its points (issue 15 §3, §5), registered with
`tessera.rules.purchase` when the app starts: the discounts by `rewards.occasions.decide_discounts` —
the decision `quote_sale` applies — and the bonuses by `sales.bonuses.is_first_purchase` and
`rewards.bonuses.first_purchase_grants` / `refusal_of` — what the confirmation gives. Reads only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tessera.members.models import Member
from tessera.rewards import bonuses, occasions
from tessera.rewards.models import PURCHASE_KINDS, BonusRule
from tessera.rules.purchase import BonusOutcome, DiscountPart, OccasionOutcome, PurchaseView
from tessera.sales.bonuses import is_first_purchase
from tessera.tenancy.models import Merchant, Store
from tessera.tiers.benefits import tier_benefits


def _limits(rule: BonusRule) -> dict[str, Any]:
    return {
        "per_day": rule.per_day,
        "per_week": rule.per_week,
        "per_month": rule.per_month,
        "per_member": rule.per_member,
        "budget": rule.budget,
        "min_amount": rule.min_amount,
    }


def _bonuses(member: Member, amount_due: int, at: datetime, first: bool) -> list[BonusOutcome]:
    if not first:
        return [
            BonusOutcome(
                rule_id=rule.pk,
                name=rule.name,
                kind=rule.kind,
                member_id=None,
                recipient="member",
                points=0,
                given=False,
                code="not_first_purchase",
                limits=_limits(rule),
            )
            for rule in bonuses.rules_in_force(member.merchant_id, PURCHASE_KINDS, at)
        ]
    grants, skipped = bonuses.first_purchase_grants(member=member, sale_id=None, amount=amount_due, now=at)
    found = []
    for grant in grants:
        refused = bonuses.refusal_of(grant, now=at)
        found.append(
            BonusOutcome(
                rule_id=grant.rule.pk,
                name=grant.rule.name,
                kind=grant.rule.kind,
                member_id=grant.member.pk,
                recipient="referrer" if grant.referred is not None else "member",
                points=grant.points,
                given=refused is None,
                code=refused or "",
                limits=_limits(grant.rule),
            )
        )
    for skip in skipped:
        found.append(
            BonusOutcome(
                rule_id=skip.rule.pk,
                name=skip.rule.name,
                kind=skip.rule.kind,
                member_id=None,
                recipient="referrer" if skip.code == "referrer_cannot_earn" else "member",
                points=0,
                given=False,
                code=skip.code,
                limits=_limits(skip.rule),
            )
        )
    return found


def explain_purchase(
    *, merchant: Merchant, member: Member, store: Store, at: datetime, total: int
) -> PurchaseView:
    perks = tier_benefits(member=member, store=store, at=at)
    decision = occasions.decide_discounts(
        member=member, store=store, at=at, total=total, perks=perks, currency=merchant.currency
    )
    discount = sum(part.amount for part in decision.chosen)
    first = bonuses.has_purchase_bonuses(merchant.pk) and is_first_purchase(
        merchant_id=merchant.pk, member_id=member.pk
    )
    return PurchaseView(
        total=total,
        discount_amount=discount,
        amount_due=total - discount,
        discounts=[
            DiscountPart(
                name=part.name,
                percent=part.percent,
                amount=part.amount,
                explanation=part.explanation,
                occasion_id=part.occasion,
            )
            for part in decision.chosen
        ],
        occasions=[
            OccasionOutcome(
                occasion_id=seen.occasion.pk,
                name=seen.occasion.name,
                kind=seen.occasion.kind,
                period=seen.occasion.period,
                percent=seen.occasion.percent,
                cap=seen.occasion.max_discount,
                stacking=seen.occasion.stacking,
                max_uses=seen.occasion.max_uses,
                period_start=seen.period_start,
                applies=seen.chosen,
                explanation=seen.explanation,
            )
            for seen in decision.considered
        ],
        first_purchase=first,
        bonuses=_bonuses(member, total - discount, at, first)
        if bonuses.has_purchase_bonuses(merchant.pk)
        else [],
        perks=perks,
    )
