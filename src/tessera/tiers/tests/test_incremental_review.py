"""The continuous (hourly) tier review is incremental (issue 15 §2): after a first full run it reviews
only the members whose ranking, window, hold or tier could have changed since its last run, and leaves
every member exactly where a full review would. An oracle: on randomised sales, returns, spend without
points, upgrades and holds, in Asia/Ho_Chi_Minh, at chosen instants across a month end and a year end,
each run is made twice — a full review, rolled back, then the incremental one — and both must leave the
same tiers, windows and tier-change rows."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from tests.factories import MemberFactory

from tessera.ledger import services as ledger
from tessera.ledger.models import Entry
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.tiers import services
from tessera.tiers.models import Downgrade, MemberTier, Review, TierChange, TierProgram, Window
from tessera.tiers.tests.factories import program, spend, tier
from tessera.tiers.tests.test_holds import HCM, local, shop

pytestmark = pytest.mark.django_db


class _Undo(Exception):
    pass


def _state(merchant_id: int, at: datetime) -> tuple[dict[int, Any], list[tuple[Any, ...]]]:
    tiers = {
        state.member_id: (state.tier_id, state.window_start, state.held_until)
        for state in MemberTier.objects.filter(merchant_id=merchant_id)
    }
    changes = sorted(
        TierChange.objects.filter(merchant_id=merchant_id, at=at).values_list(
            "member_id", "from_tier_id", "to_tier_id", "reason", "ranking"
        )
    )
    return tiers, changes


def _full_review(tier_program: TierProgram, now: datetime) -> tuple[dict[int, Any], list[tuple[Any, ...]]]:
    """What a full review at `now` would leave, undone afterwards."""
    try:
        with transaction.atomic():
            services.review_program(program=tier_program, now=now, full=True)
            found = _state(tier_program.merchant_id, now)
            raise _Undo
    except _Undo:
        return found


def _trade(rng: random.Random, members: list[Member], earned: list[Entry], at: datetime) -> None:
    """A few members buy (and may move up), return part of an earlier sale, or buy without points."""
    for member in rng.sample(members, k=3):
        choice = rng.random()
        if choice < 0.5:
            earned.append(spend(member, rng.choice([400_000, 1_500_000, 6_000_000, 12_000_000]), at))
            services.evaluate_upgrade(member=member, now=at)
        elif choice < 0.75:
            mine = [e for e in earned if e.account.member_id == member.pk]
            if mine:
                entry = rng.choice(mine)
                ledger.reverse(entry=entry, amount=max(entry.amount // 2, 1), source="refund:test", now=at)
        else:
            source = f"sale:{rng.randrange(10**9)}"
            services.record_spend(
                member=member, amount=rng.choice([2_000_000, 5_000_000]), source=source, now=at
            )
            services.evaluate_upgrade(member=member, now=at)
            if rng.random() < 0.5:
                services.return_spend(member=member, source=source, cause=f"refund:{source}", amount=None)


@pytest.mark.parametrize(
    ("fields", "seed"),
    [
        ({"window": Window.ROLLING_MONTHS, "window_months": 1, "downgrade": Downgrade.EARNED}, 1),
        ({"window": Window.ROLLING_MONTHS, "window_months": 2, "downgrade": Downgrade.ONE_TIER}, 2),
        ({"window": Window.ROLLING_MONTHS, "window_months": 1, "hold_months": 1}, 3),
        ({"window": Window.SINCE_LAST_CHANGE, "window_months": 1, "downgrade": Downgrade.ONE_TIER}, 4),
        ({"window": Window.CALENDAR_YEAR, "downgrade": Downgrade.EARNED}, 5),
    ],
)
def test_incremental_continuous_review_leaves_every_member_where_a_full_review_would(fields, seed):
    rng = random.Random(seed)
    merchant = shop(HCM)
    tier_program = program(merchant, review=Review.CONTINUOUS, **fields)
    members = [MemberFactory(merchant=merchant) for _ in range(12)]
    earned: list[Entry] = []
    start = local(HCM, "2025-11-20 09:00")
    for member in members:
        earned.append(spend(member, rng.choice([1_200_000, 6_000_000, 25_000_000]), start))
        services.evaluate_upgrade(member=member, now=start)
    # Hourly runs, and runs days apart: across the end of November, of December and of the year.
    at = start
    incremental_runs = 0
    for step in [1, 1, 24 * 9, 1, 24 * 11, 24 * 12, 2, 24 * 10, 24 * 20, 1, 24 * 31]:
        for hour in sorted(rng.sample(range(1, step + 1), k=min(step, 2))):
            _trade(rng, members, earned, at + timedelta(hours=hour) - timedelta(minutes=30))
        at += timedelta(hours=step)
        tier_program.refresh_from_db()
        expected = _full_review(tier_program, at)
        tier_program.refresh_from_db()
        result = services.review_program(program=tier_program, now=at)
        incremental_runs += result.incremental
        assert _state(merchant.pk, at) == expected, f"run at {at}"
        assert tier_program.reviewed_through == at
    assert incremental_runs == 10  # every run but the first
    assert TierChange.objects.filter(merchant=merchant, reason="downgrade").exists()
    assert verify_ledger(merchant) == []


def test_incremental_review_reviews_only_the_members_that_changed():
    """1 member of 10 returns a sale: the next hourly run reviews that one (and lowers them)."""
    merchant = shop(HCM)
    tier_program = program(merchant, review=Review.CONTINUOUS, window_months=12)
    members = [MemberFactory(merchant=merchant) for _ in range(10)]
    t0 = local(HCM, "2026-01-31 23:30")
    sales = [spend(member, 6_000_000, t0) for member in members]
    for member in members:
        services.evaluate_upgrade(member=member, now=t0)
    first = services.review_program(program=tier_program, now=t0 + timedelta(hours=1))
    assert (first.reviewed, first.incremental) == (10, False)
    ledger.reverse(entry=sales[3], amount=400, source="refund:1", now=t0 + timedelta(hours=1, minutes=30))
    second = services.review_program(program=tier_program, now=t0 + timedelta(hours=2))
    assert (second.reviewed, second.downgraded, second.incremental) == (1, 1, True)
    assert MemberTier.objects.get(member=members[3]).tier == tier(merchant, "silver")
    # Lowered to the tier its ranking earns, the member is not looked at again (one tier at a time
    # would look: the next run may lower it further).
    quiet = services.review_program(program=tier_program, now=t0 + timedelta(hours=3))
    assert (quiet.reviewed, quiet.incremental) == (0, True)


def test_changing_the_program_or_a_tier_makes_the_next_run_full():
    merchant = shop(HCM)
    tier_program = program(merchant, review=Review.CONTINUOUS)
    services.review_program(program=tier_program, now=local(HCM, "2026-02-28 10:20"))
    assert tier_program.reviewed_through is not None
    gold = tier(merchant, "gold")
    gold.threshold += 1
    services.save_tier(tier=gold)
    tier_program.refresh_from_db()
    assert tier_program.reviewed_through is None
    assert not services.review_program(program=tier_program, now=local(HCM, "2026-02-28 11:20")).incremental
    tier_program.hold_months = 3
    services.save_program(program=tier_program)
    assert tier_program.reviewed_through is None


def test_a_run_that_did_not_commit_leaves_the_watermark_where_it_was():
    merchant = shop(HCM)
    tier_program = program(merchant, review=Review.CONTINUOUS)
    first = local(HCM, "2026-03-01 00:20")
    services.review_program(program=tier_program, now=first)
    tier_program.refresh_from_db()
    try:
        with transaction.atomic():
            services.review_program(program=tier_program, now=first + timedelta(hours=1))
            raise _Undo
    except _Undo:
        pass
    tier_program.refresh_from_db()
    assert tier_program.reviewed_through == first


def test_scheduled_reviews_stay_full():
    merchant = shop(HCM)
    tier_program = program(merchant, review=Review.MONTHLY)
    member = MemberFactory(merchant=merchant)
    spend(member, 6_000_000, local(HCM, "2026-01-15 10:00"))
    services.evaluate_upgrade(member=member, now=local(HCM, "2026-01-15 10:00"))
    for when in ("2026-02-01 00:20", "2026-03-01 00:20"):
        result = services.review_program(program=tier_program, now=local(HCM, when))
        assert (result.reviewed, result.incremental) == (1, False)
    tier_program.refresh_from_db()
    assert tier_program.reviewed_through is None
