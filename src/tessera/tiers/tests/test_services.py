"""Tiers (F1) and the holds of manual changes (F2): windows, upgrades, reviews, rewards, history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.factories import MemberFactory

from tessera.core.errors import ValidationFailed
from tessera.core.events import event_published
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.tiers import services
from tessera.tiers.models import ChangeReason, Hold, MemberTier, Tier, TierChange, TierReward, Window
from tessera.tiers.selectors import ranking_spends, tier_status
from tessera.tiers.tasks import reevaluate_tiers
from tessera.tiers.tests.factories import DIAMOND, GOLD, SILVER, program, spend, tier

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tier_code(member) -> str | None:
    state = MemberTier.objects.filter(member=member).first()
    return state.tier.code if state and state.tier else None


def bonus_points(member) -> list[int]:
    return list(
        Entry.objects.filter(account__member=member, kind=EntryKind.BONUS)
        .order_by("pk")
        .values_list("amount", flat=True)
    )


@pytest.mark.parametrize(
    ("window", "months", "spends", "now", "expected"),
    [
        # Rolling 12 months: 10 June 2024 is out, 20 June 2024 and 1 June 2025 are in.
        (
            Window.ROLLING_MONTHS,
            12,
            [
                ("2024-06-10 12:00", 7_000_000),
                ("2024-06-20 12:00", 2_000_000),
                ("2025-06-01 12:00", 3_000_000),
            ],
            "2025-06-15 12:00",
            5_000_000,
        ),
        # Rolling 3 months from 31 May: from 28 February (the month's last day).
        (
            Window.ROLLING_MONTHS,
            3,
            [("2025-02-27 23:00", 4_000_000), ("2025-02-28 12:00", 1_500_000)],
            "2025-05-31 00:00",
            1_500_000,
        ),
        # Calendar year in Hanoi time (UTC+7): 31 Dec 16:00 UTC is 23:00 local (2024), 18:00 UTC is 2025.
        (
            Window.CALENDAR_YEAR,
            12,
            [("2024-12-31 16:00", 9_000_000), ("2024-12-31 18:00", 1_200_000), ("2025-06-01 00:00", 800_000)],
            "2025-06-15 12:00",
            2_000_000,
        ),
    ],
)
def test_f1_ranking_spend_counts_only_the_window(merchant, window, months, spends, now, expected):
    program(merchant, window=window, window_months=months)
    member = MemberFactory(merchant=merchant)
    for moment, amount in spends:
        spend(member, amount, at(moment))

    assert tier_status(member, now=at(now)).ranking == expected
    # The member list export (C4) counts it the same way.
    assert ranking_spends(merchant=merchant, member_ids=[member.pk], now=at(now)) == {member.pk: expected}


def test_f1_since_last_change_counts_from_the_members_last_tier_change(merchant):
    program(merchant, window=Window.SINCE_LAST_CHANGE, window_months=12)
    member = MemberFactory(merchant=merchant)
    spend(member, 1_000_000, at("2025-02-28 12:00"))
    services.evaluate_upgrade(member=member, now=at("2025-03-01 00:00"))  # Silver from 1 March
    spend(member, 3_000_000, at("2025-03-02 12:00"))

    status = tier_status(member, now=at("2025-04-01 00:00"))

    assert (status.tier.code, status.window_start, status.ranking) == (
        "silver",
        at("2025-03-01 00:00"),
        3_000_000,
    )
    assert (status.next_tier.code, status.missing) == ("gold", GOLD - 3_000_000)
    # The export: the window of a member with a tier state; a member without one counts from the start.
    newcomer = MemberFactory(merchant=merchant)
    spend(newcomer, 700_000, at("2025-01-05 12:00"))
    assert ranking_spends(
        merchant=merchant, member_ids=[member.pk, newcomer.pk], now=at("2025-04-01 00:00")
    ) == {
        member.pk: 3_000_000,
        newcomer.pk: 700_000,
    }


def test_f1_returns_take_back_their_share_of_the_spend_in_the_sales_window(merchant):
    program(merchant)
    member = MemberFactory(merchant=merchant)
    earned = spend(member, 3_000_000, at("2025-05-01 12:00"))  # 300 points
    ledger.reverse(entry=earned, amount=100, now=at("2025-05-02 12:00"))  # a third returned

    assert tier_status(member, now=at("2025-06-01 00:00")).ranking == 2_000_000


def test_f1_points_basis_counts_earned_points_but_not_tier_rewards(merchant):
    program(merchant, basis="points")
    Tier.objects.filter(merchant=merchant, code="silver").update(threshold=100)
    gold = tier(merchant, "gold")
    gold.threshold, gold.reward_points = 500, 100
    gold.save()
    member = MemberFactory(merchant=merchant)
    spend(member, 5_000_000, at("2025-05-01 12:00"))  # 500 points

    services.evaluate_upgrade(member=member, now=at("2025-05-01 12:01"))

    assert tier_code(member) == "gold"
    assert bonus_points(member) == [100]
    assert tier_status(member, now=at("2025-05-02 00:00")).ranking == 500


def test_f1_upgrade_skips_to_the_highest_tier_reached_records_history_and_announces_it(
    merchant, django_capture_on_commit_callbacks
):
    program(merchant)
    member = MemberFactory(merchant=merchant)
    spend(member, DIAMOND, at("2025-05-01 12:00"))
    events = []

    def receiver(sender, merchant_id, type, payload, **kwargs):
        events.append((merchant_id, type, payload["member_id"], payload["from"], payload["to"]))

    event_published.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            change = services.evaluate_upgrade(member=member, now=at("2025-05-01 12:01"))
    finally:
        event_published.disconnect(receiver)

    assert events == [(merchant.pk, "member.tier_changed", member.pk, None, "diamond")]
    assert (change.from_tier, change.to_tier.code, change.reason, change.ranking) == (
        None,
        "diamond",
        ChangeReason.UPGRADE,
        DIAMOND,
    )
    # Only the tier reached is rewarded, not the ones skipped.
    assert bonus_points(member) == [500]


def test_f1_review_lowers_the_tier_to_what_the_window_earns(merchant):
    program(merchant, window_months=12, review="monthly")
    member = MemberFactory(merchant=merchant)
    spend(member, GOLD, at("2024-01-10 12:00"))
    services.evaluate_upgrade(member=member, now=at("2024-01-10 12:01"))
    spend(member, 1_500_000, at("2024-12-01 12:00"))
    kept = MemberFactory(merchant=merchant)
    spend(kept, GOLD, at("2024-12-20 12:00"))
    services.evaluate_upgrade(member=kept, now=at("2024-12-20 12:01"))

    results = reevaluate_tiers(at("2025-02-01 03:00"))

    assert (results[merchant.pk].reviewed, results[merchant.pk].downgraded) == (2, 1)
    assert (tier_code(member), tier_code(kept)) == ("silver", "gold")
    change = TierChange.objects.filter(member=member).first()
    assert (change.from_tier.code, change.to_tier.code, change.reason, change.ranking) == (
        "gold",
        "silver",
        ChangeReason.DOWNGRADE,
        1_500_000,
    )
    # Reviewed this month already: not due again until March.
    assert reevaluate_tiers(at("2025-02-20 03:00")) == {}
    assert merchant.pk in reevaluate_tiers(at("2025-03-01 03:00"))


def test_f1_review_in_small_chunks_reaches_every_member(merchant):
    built = program(merchant)
    members = [MemberFactory(merchant=merchant) for _ in range(5)]
    for m in members:
        spend(m, SILVER, at("2023-01-10 12:00"))
        services.evaluate_upgrade(member=m, now=at("2023-01-10 12:01"))

    result = services.review_program(program=built, now=at("2025-01-01 00:00"), chunk_size=2)

    assert (result.reviewed, result.downgraded) == (5, 5)
    assert MemberTier.objects.filter(member__in=members, tier__isnull=True).count() == 5


def test_f1_calendar_year_tier_is_kept_through_the_next_year(merchant):
    program(merchant, window=Window.CALENDAR_YEAR, review="yearly")
    member = MemberFactory(merchant=merchant)
    spend(member, GOLD, at("2024-03-01 12:00"))
    services.evaluate_upgrade(member=member, now=at("2024-03-01 12:01"))

    reevaluate_tiers(at("2025-01-01 03:00"))
    assert tier_code(member) == "gold"
    reevaluate_tiers(at("2026-01-01 03:00"))
    assert tier_code(member) is None


def test_f1_since_last_change_review_renews_a_member_who_qualified_again(merchant):
    built = program(merchant, window=Window.SINCE_LAST_CHANGE, window_months=6)
    member = MemberFactory(merchant=merchant)
    spend(member, SILVER, at("2025-01-01 12:00"))
    services.evaluate_upgrade(member=member, now=at("2025-01-01 12:01"))
    spend(member, SILVER, at("2025-05-01 12:00"))  # Silver again within six months

    early = services.review_program(program=built, now=at("2025-06-30 00:00"))
    result = services.review_program(program=built, now=at("2025-07-02 00:00"))

    assert early.reviewed == 0
    assert (result.reviewed, result.downgraded, result.renewed) == (1, 0, 1)
    assert MemberTier.objects.get(member=member).window_start == at("2025-07-02 00:00")


def test_f1_reward_is_granted_once_even_after_a_downgrade_and_a_new_upgrade(merchant):
    program(merchant)
    member = MemberFactory(merchant=merchant)
    spend(member, GOLD, at("2023-01-10 12:00"))
    services.evaluate_upgrade(member=member, now=at("2023-01-10 12:01"))
    reevaluate_tiers(at("2024-06-01 00:00"))
    assert tier_code(member) is None
    spend(member, GOLD, at("2024-06-02 12:00"))

    services.evaluate_upgrade(member=member, now=at("2024-06-02 12:01"))

    assert tier_code(member) == "gold"
    assert bonus_points(member) == [100]
    assert TierReward.objects.filter(member=member).count() == 1
    assert list(TierChange.objects.filter(member=member).order_by("at").values_list("reason", flat=True)) == [
        "upgrade",
        "downgrade",
        "upgrade",
    ]


def test_f2_manual_upgrade_grants_the_reward_and_holds_until_the_ranking_earns_a_higher_tier(merchant):
    program(merchant)
    member = MemberFactory(merchant=merchant)
    spend(member, SILVER, at("2024-01-10 12:00"))
    services.evaluate_upgrade(member=member, now=at("2024-01-10 12:01"))

    change = services.set_tier_manually(
        member=member, tier=tier(merchant, "gold"), voucher_code="ADJ-1", now=at("2024-01-11 00:00")
    )
    assert (change.reason, change.voucher_code, bonus_points(member)) == (
        ChangeReason.MANUAL_UPGRADE,
        "ADJ-1",
        [100],
    )

    reevaluate_tiers(at("2025-03-01 00:00"))  # the ranking earns nothing now: held, not lowered
    assert (tier_code(member), MemberTier.objects.get(member=member).hold) == ("gold", Hold.MANUAL_UPGRADE)

    spend(member, GOLD, at("2025-03-02 12:00"))
    assert services.evaluate_upgrade(member=member, now=at("2025-03-02 12:01")) is None  # Gold is not higher
    spend(member, DIAMOND - GOLD, at("2025-03-03 12:00"))
    released = services.evaluate_upgrade(member=member, now=at("2025-03-03 12:01"))

    assert (released.to_tier.code, released.reason) == ("diamond", ChangeReason.UPGRADE)
    assert MemberTier.objects.get(member=member).hold == Hold.NONE


def test_f2_manual_downgrade_holds_until_the_ranking_earns_above_the_tier_held_before(merchant):
    program(merchant)
    member = MemberFactory(merchant=merchant)
    spend(member, GOLD, at("2025-01-10 12:00"))
    services.evaluate_upgrade(member=member, now=at("2025-01-10 12:01"))

    services.set_tier_manually(member=member, tier=tier(merchant, "silver"), now=at("2025-01-11 00:00"))
    state = MemberTier.objects.get(member=member)
    assert (state.tier.code, state.hold, state.hold_reference.code) == (
        "silver",
        Hold.MANUAL_DOWNGRADE,
        "gold",
    )

    spend(member, 1_000_000, at("2025-02-01 12:00"))  # 6,000,000: Gold again, but not above it
    assert services.evaluate_upgrade(member=member, now=at("2025-02-01 12:01")) is None
    assert tier_status(member, now=at("2025-02-02 00:00")).next_tier.code == "diamond"
    spend(member, DIAMOND - 6_000_000, at("2025-03-01 12:00"))
    released = services.evaluate_upgrade(member=member, now=at("2025-03-01 12:01"))

    assert released.to_tier.code == "diamond"
    assert MemberTier.objects.get(member=member).hold == Hold.NONE


def test_f1_threshold_must_grow_with_rank(merchant):
    program(merchant)
    with pytest.raises(ValidationFailed) as refused:
        services.save_tier(tier=Tier(merchant=merchant, code="bronze", name="Bronze", rank=4, threshold=500))
    assert refused.value.code == "threshold_order"


def test_c2_excluded_members_are_not_upgraded(merchant):
    program(merchant)
    member = MemberFactory(merchant=merchant, status="excluded")
    spend(member, GOLD, at("2025-01-10 12:00"))

    assert services.evaluate_upgrade(member=member, now=at("2025-01-10 12:01")) is None
    assert not Account.objects.filter(member=member, kind=AccountKind.POINTS, entries__kind="bonus").exists()
