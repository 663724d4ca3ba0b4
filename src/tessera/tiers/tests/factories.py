"""Builders for tier tests: a program with Silver, Gold and Diamond, and spend written to the ledger."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, Entry, EntryKind
from tessera.members.models import Member
from tessera.tenancy.models import Merchant
from tessera.tiers import services
from tessera.tiers.models import Tier, TierProgram

SILVER, GOLD, DIAMOND = 1_000_000, 5_000_000, 20_000_000


def program(merchant: Merchant, **fields: object) -> TierProgram:
    """Ranking spend over the last 12 months, monthly reviews, and three tiers (VND thresholds)."""
    built = services.save_program(program=TierProgram(merchant=merchant, **fields))
    for rank, (code, name, threshold, percent, multiplier, reward) in enumerate(
        [
            ("silver", "Silver", SILVER, "2", "1", 0),
            ("gold", "Gold", GOLD, "5", "1.5", 100),
            ("diamond", "Diamond", DIAMOND, "10", "2", 500),
        ],
        start=1,
    ):
        services.save_tier(
            tier=Tier(
                merchant=merchant,
                code=code,
                name=name,
                rank=rank,
                threshold=threshold,
                discount_percent=Decimal(percent),
                earning_multiplier=Decimal(multiplier),
                reward_points=reward,
            )
        )
    return built


def tier(merchant: Merchant, code: str) -> Tier:
    return Tier.objects.get(merchant=merchant, code=code)


def spend(member: Member, amount: int, at: datetime) -> Entry:
    """A confirmed purchase of `amount` đồng at `at`, as the ledger records it: 1 point per 10,000."""
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    return ledger.credit(
        account=account,
        amount=max(amount // 10_000, 1),
        kind=EntryKind.EARN,
        source="sale:test",
        sale_amount=amount,
        now=at,
    )
