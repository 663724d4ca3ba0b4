"""E5 earning policy: each condition, each effect, each way of combining, in the store's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.cards.tests.factories import CardTypeFactory
from tessera.core.errors import NotFound
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, EntryKind
from tessera.rules.simulator import BasketItem, in_birthday_window, simulate
from tessera.rules.tests.factories import edit_rule, make_rule
from tessera.sales.tests.conftest import active_card
from tessera.tiers.benefits import TierBenefits

pytestmark = pytest.mark.django_db

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
#: Monday 2 March 2026, noon in Hồ Chí Minh City.
MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=HCM)


def points(merchant, member, store, *, amount=150000, at=MONDAY_NOON, lines=None, card=None, perks=None):
    return simulate(
        merchant=merchant,
        amount=amount,
        lines=lines,
        member=member,
        store=store,
        at=at,
        card=card,
        perks=perks,
    )


def top_up(member, times: int) -> None:
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.STORED_VALUE, member=member)
    for _ in range(times):
        ledger.credit(account=account, amount=100000, kind=EntryKind.TOP_UP)


# --- the flat rate ---------------------------------------------------------------------------------------


def test_e5_without_rules_the_flat_rate_applies(merchant, member, store):
    result = points(merchant, member, store, amount=159999)

    assert result.points == 15
    assert [(p.rule_id, p.version_id, str(p.name), p.points) for p in result.parts] == [
        (None, None, "Flat rate", 15)
    ]
    assert "rounded down" in str(result.parts[0].explanation)


def test_e5_a_rule_that_applies_replaces_the_flat_rate(merchant, member, store):
    rule = make_rule(merchant, "Two per 10k", points=2)

    result = points(merchant, member, store)

    assert result.points == 30
    assert [(p.rule_id, p.version_id, p.points) for p in result.parts] == [
        (rule.pk, rule.current_version_id, 30)
    ]


def test_e5_an_inactive_rule_does_not_apply(merchant, member, store):
    make_rule(merchant, "Off", points=5, is_active=False)
    assert points(merchant, member, store).points == 15


# --- conditions, one at a time -----------------------------------------------------------------------------


CONDITIONS = [
    # (rule fields, sale moment (local), amount, applies?)
    ({"valid_from": datetime(2026, 3, 1, tzinfo=HCM)}, MONDAY_NOON, 150000, True),
    ({"valid_from": datetime(2026, 3, 3, tzinfo=HCM)}, MONDAY_NOON, 150000, False),
    ({"valid_until": datetime(2026, 3, 2, 12, 0, tzinfo=HCM)}, MONDAY_NOON, 150000, False),
    ({"valid_until": datetime(2026, 3, 2, 12, 1, tzinfo=HCM)}, MONDAY_NOON, 150000, True),
    ({"weekdays": [1]}, MONDAY_NOON, 150000, True),
    ({"weekdays": [2, 3]}, MONDAY_NOON, 150000, False),
    ({"hour_from": 11, "hour_until": 14}, MONDAY_NOON, 150000, True),
    ({"hour_from": 14, "hour_until": 17}, MONDAY_NOON, 150000, False),
    ({"hour_from": 22, "hour_until": 2}, datetime(2026, 3, 2, 23, 30, tzinfo=HCM), 150000, True),
    ({"hour_from": 22, "hour_until": 2}, datetime(2026, 3, 2, 1, 59, tzinfo=HCM), 150000, True),
    ({"hour_from": 22, "hour_until": 2}, datetime(2026, 3, 2, 2, 0, tzinfo=HCM), 150000, False),
    ({"min_total": 150000}, MONDAY_NOON, 150000, True),
    ({"min_total": 150001}, MONDAY_NOON, 150000, False),
    ({"tier_codes": ["GOLD"]}, MONDAY_NOON, 150000, False),  # no tier yet
]


@pytest.mark.parametrize(("fields", "at", "amount", "applies"), CONDITIONS)
def test_e5_each_condition_decides_whether_a_rule_applies(
    merchant, member, store, fields, at, amount, applies
):
    make_rule(merchant, "Triple", points=3, **fields)

    result = points(merchant, member, store, amount=amount, at=at)

    assert result.points == (45 if applies else 15)
    if not applies:
        assert [s.name for s in result.skipped] == ["Triple"]


def test_e5_store_condition(merchant, member, store, store2):
    make_rule(merchant, "Hoàn Kiếm only", points=3, store_ids=[store.pk])

    assert points(merchant, member, store).points == 45
    assert points(merchant, member, store2).points == 15
    assert points(merchant, member, store2).skipped[0].reason == "another store"


def test_e5_card_type_condition_uses_the_card_presented_else_the_members_cards(merchant, member, store):
    gold_card = active_card(member)
    silver_type = CardTypeFactory(merchant=merchant, name="Silver", number_prefix="77")
    make_rule(merchant, "Gold cards", points=3, card_type_ids=[gold_card.type_id])
    make_rule(merchant, "Silver cards", points=1, card_type_ids=[silver_type.pk])

    with_card = points(merchant, member, store, card=gold_card)
    without_card = points(merchant, member, store)
    stranger = points(merchant, MemberFactory(merchant=merchant), store)

    assert (with_card.points, without_card.points, stranger.points) == (45, 45, 15)
    assert [str(p.name) for p in with_card.parts] == ["Gold cards"]


@pytest.mark.parametrize(
    ("fields", "top_ups", "applies"),
    [
        ({"min_top_ups": 2}, 1, False),
        ({"min_top_ups": 2}, 2, True),
        ({"max_top_ups": 0}, 0, True),
        ({"max_top_ups": 0}, 1, False),
        ({"min_top_ups": 1, "max_top_ups": 3}, 3, True),
    ],
)
def test_e5_number_of_top_ups_so_far(merchant, member, store, fields, top_ups, applies):
    top_up(member, top_ups)
    make_rule(merchant, "Loyal top-up members", points=3, **fields)

    assert points(merchant, member, store).points == (45 if applies else 15)


def test_e5_top_ups_on_the_members_stored_value_card_count_too(merchant, member, store):
    card = active_card(member, kind="stored_value")
    ledger.credit(account=card.account, amount=50000, kind=EntryKind.TOP_UP)
    make_rule(merchant, "Topped up", points=3, min_top_ups=1)

    assert points(merchant, member, store).points == 45


def test_e5_hours_and_weekday_are_read_in_the_stores_time_zone(merchant, member, store):
    """23:30 UTC on Monday is 06:30 on Tuesday in Asia/Ho_Chi_Minh."""
    make_rule(merchant, "Tuesday breakfast", points=3, weekdays=[2], hour_from=6, hour_until=9)
    at = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)

    assert points(merchant, member, store, at=at).points == 45
    shanghai = StoreFactory(merchant=merchant, code="sh", time_zone="Asia/Shanghai")  # 07:30 Tuesday
    assert points(merchant, member, shanghai, at=at).points == 45
    london = StoreFactory(merchant=merchant, code="ldn", time_zone="Europe/London")  # 23:30 Monday
    assert points(merchant, member, london, at=at).points == 15


def test_e5_tier_condition_and_f1_tier_earning_multiplier(merchant, member, store):
    make_rule(merchant, "Gold and diamond", effect="fixed", bonus_points=10, tier_codes=["GOLD", "diamond"])
    make_rule(merchant, "Base", points=1)
    gold = TierBenefits(tier="gold", earning_multiplier=Decimal("1.5"))
    silver = TierBenefits(tier="silver")

    as_gold = points(merchant, member, store, perks=gold)
    as_silver = points(merchant, member, store, perks=silver)

    # 10 + 15 = 25, then the Gold tier's ×1.5 adds 12 (12.5 rounded down).
    assert [(str(p.name), p.points) for p in as_gold.parts] == [
        ("Gold and diamond", 10),
        ("Base", 15),
        ("Tier gold", 12),
    ]
    assert as_gold.points == 37
    assert (as_silver.points, as_silver.skipped[0].reason) == (15, "another tier")


# --- the birthday window -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "birthday", "today", "inside"),
    [
        ("day", date(1990, 3, 3), date(2026, 3, 3), True),
        ("day", date(1990, 3, 3), date(2026, 3, 4), False),
        ("day", date(1992, 2, 29), date(2026, 2, 28), True),  # a leap-day birthday in a common year
        ("week", date(1990, 3, 4), date(2026, 3, 2), True),  # Wednesday 4 March 2026: Monday 2 to Sunday 8
        ("week", date(1990, 3, 4), date(2026, 3, 8), True),
        ("week", date(1990, 3, 4), date(2026, 3, 9), False),
        ("week", date(1990, 3, 4), date(2026, 3, 1), False),
        ("week", date(1990, 12, 31), date(2027, 1, 2), True),  # Thu 31 Dec 2026 → week to Sun 3 Jan 2027
        ("month", date(1990, 3, 31), date(2026, 3, 1), True),
        ("month", date(1990, 3, 31), date(2026, 4, 1), False),
    ],
)
def test_e5_birthday_window_day_week_month(window, birthday, today, inside):
    assert in_birthday_window(birthday, today, window) is inside


def test_e5_birthday_is_the_day_in_the_stores_time_zone(merchant, store):
    member = MemberFactory(merchant=merchant, birthday=date(1990, 3, 3))
    make_rule(
        merchant, "Birthday bonus", effect="fixed", bonus_points=100, combine="add", birthday_window="day"
    )
    make_rule(merchant, "Base", points=1)
    at = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 3 March, 06:30 in Hồ Chí Minh City

    assert points(merchant, member, store, at=at).points == 115
    london = StoreFactory(merchant=merchant, code="ldn", time_zone="Europe/London")  # still 2 March there
    assert points(merchant, member, london, at=at).points == 15


# --- effects -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "amount", "expected"),
    [
        ({"effect": "per_amount", "points": 1, "per_amount": 10000, "rounding": "down"}, 159999, 15),
        ({"effect": "per_amount", "points": 1, "per_amount": 10000, "rounding": "half_up"}, 155000, 16),
        ({"effect": "per_amount", "points": 1, "per_amount": 10000, "rounding": "half_up"}, 154999, 15),
        ({"effect": "per_amount", "points": 1, "per_amount": 10000, "rounding": "up"}, 150001, 16),
        ({"effect": "per_amount", "points": "2.5", "per_amount": 10000, "rounding": "down"}, 150000, 37),
        ({"effect": "fixed", "bonus_points": 50}, 150000, 50),
        ({"effect": "formula", "formula": "floor(amount / 10000) * 2 + is_birthday * 10"}, 150000, 30),
        ({"effect": "formula", "formula": "amount / 7000"}, 150000, 21),
        ({"effect": "formula", "formula": "max(flat_points, 20) if weekday == 1 else 0"}, 150000, 20),
        ({"effect": "formula", "formula": "total / 10000 + items"}, 150000, 18),
    ],
)
def test_e5_each_effect_gives_its_points(merchant, member, store, fields, amount, expected):
    rule = make_rule(merchant, "Under test", **fields)
    lines = [BasketItem(quantity=3, line_amount=amount)]

    result = points(merchant, member, store, amount=amount, lines=lines)

    assert result.points == expected
    assert [(p.rule_id, p.points) for p in result.parts] == [(rule.pk, expected)]


def test_e5_a_multiplier_doubles_the_points_of_the_rules_before_it(merchant, member, store):
    make_rule(merchant, "Base", points=1, priority=10)
    make_rule(merchant, "Bonus", effect="fixed", bonus_points=5, priority=20)
    make_rule(merchant, "Double Monday", effect="multiplier", multiplier=2, weekdays=[1], priority=30)
    make_rule(merchant, "After the multiplier", effect="fixed", bonus_points=7, priority=40)

    result = points(merchant, member, store)

    assert [(str(p.name), p.points) for p in result.parts] == [
        ("Base", 15),
        ("Bonus", 5),
        ("Double Monday", 20),
        ("After the multiplier", 7),
    ]
    assert result.points == 47


def test_e5_a_multiplier_alone_multiplies_the_flat_rate(merchant, member, store):
    make_rule(merchant, "×1.5 rounded up", effect="multiplier", multiplier="1.5", rounding="up")

    result = points(merchant, member, store)  # flat 15, ×1.5 → +7.5 → 8

    assert [(str(p.name), p.points) for p in result.parts] == [("Flat rate", 15), ("×1.5 rounded up", 8)]
    assert result.points == 23


def test_e5_a_formula_error_at_sale_time_gives_zero_points_and_says_why(merchant, member, store):
    make_rule(merchant, "Per top-up", effect="formula", formula="amount / top_ups / 1000")

    result = points(merchant, member, store)  # no top-ups yet: division by zero

    assert result.points == 0
    assert result.parts[0].points == 0
    assert "Division by zero" in str(result.parts[0].explanation)


def test_e5_a_negative_formula_result_gives_zero_with_the_reason(merchant, member, store):
    make_rule(merchant, "Small baskets", effect="formula", formula="(200000 - amount) / 10000")

    result = points(merchant, member, store, amount=250000)

    assert result.points == 0
    assert "negative" in str(result.parts[0].explanation)


# --- combining ---------------------------------------------------------------------------------------------


def test_e5_add_sums_the_rules(merchant, member, store):
    make_rule(merchant, "Base", points=1)
    make_rule(merchant, "Monday bonus", effect="fixed", bonus_points=10, weekdays=[1])

    assert points(merchant, member, store).points == 25


def test_e5_best_of_keeps_only_the_best_offer(merchant, member, store):
    make_rule(merchant, "Base", points=1, priority=1)
    make_rule(merchant, "Promo A", effect="fixed", bonus_points=20, combine="best_of", priority=2)
    make_rule(merchant, "Promo B", effect="fixed", bonus_points=50, combine="best_of", priority=3)
    make_rule(merchant, "Promo C", effect="fixed", bonus_points=30, combine="best_of", priority=4)

    result = points(merchant, member, store)

    assert result.points == 15 + 50
    assert [(str(p.name), p.points) for p in result.parts] == [
        ("Base", 15),
        ("Promo A", 0),
        ("Promo B", 50),
        ("Promo C", 0),
    ]
    assert "“Promo B” gives more" in str(result.parts[1].explanation)
    assert "“Promo B” gives more" in str(result.parts[3].explanation)


def test_e5_best_of_tie_goes_to_the_earlier_rule(merchant, member, store):
    first = make_rule(merchant, "First", effect="fixed", bonus_points=20, combine="best_of")
    make_rule(merchant, "Second", effect="fixed", bonus_points=20, combine="best_of")

    result = points(merchant, member, store)

    assert [(p.rule_id, p.points) for p in result.parts if p.points] == [(first.pk, 20)]


def test_e5_stop_ends_the_evaluation(merchant, member, store):
    make_rule(merchant, "VIP day", effect="fixed", bonus_points=100, combine="stop", priority=1)
    make_rule(merchant, "Base", points=1, priority=2)

    result = points(merchant, member, store)

    assert result.points == 100
    assert [str(p.name) for p in result.parts] == ["VIP day"]


def test_e5_the_order_is_priority_then_creation_never_the_order_of_edits(merchant, member, store):
    base = make_rule(merchant, "Base", points=1, priority=10)
    stop = make_rule(merchant, "Stop here", effect="fixed", bonus_points=3, combine="stop", priority=10)
    double = make_rule(merchant, "Double", effect="multiplier", multiplier=2, priority=5)
    before = points(merchant, member, store)

    # Edit them in reverse order, changing nothing that matters: the result is the same.
    for rule in (double, stop, base):
        edit_rule(rule, name=f"{rule.name} (edited)")
    after = points(merchant, member, store)

    # Double (priority 5) first: nothing before it, so it multiplies nothing; then Base, then Stop.
    assert [(p.rule_id, p.points) for p in before.parts] == [(double.pk, 0), (base.pk, 15), (stop.pk, 3)]
    assert [(p.rule_id, p.points) for p in after.parts] == [(p.rule_id, p.points) for p in before.parts]
    assert before.points == after.points == 18


def test_e5_simulator_explains_why_120_points(merchant, member, store):
    member.birthday = date(1990, 3, 2)
    member.save()
    make_rule(merchant, "Base", points=1, priority=1)
    make_rule(merchant, "Monday double", effect="multiplier", multiplier=2, weekdays=[1], priority=2)
    make_rule(merchant, "Birthday gift", effect="fixed", bonus_points=60, birthday_window="day", priority=3)
    make_rule(merchant, "Weekend", effect="fixed", bonus_points=99, weekdays=[6, 7], priority=4)

    result = points(merchant, member, store, amount=300000)

    assert result.points == 120
    assert [(str(p.name), p.points) for p in result.parts] == [
        ("Base", 30),
        ("Monday double", 30),
        ("Birthday gift", 60),
    ]
    assert str(result.parts[0].explanation) == "1 point(s) per ₫10,000 on ₫300,000, rounded down"
    assert str(result.parts[1].explanation) == "×2 on the 30 point(s) before it, rounded down"
    assert str(result.parts[2].explanation) == "a fixed bonus"
    assert [(s.name, s.reason) for s in result.skipped] == [("Weekend", "not on Monday")]


def test_a1_simulate_refuses_another_merchants_member_or_store(merchant, other_merchant, member, store):
    theirs = StoreFactory(merchant=other_merchant)
    with pytest.raises(NotFound):
        simulate(merchant=other_merchant, amount=1, lines=None, member=member, store=theirs, at=MONDAY_NOON)
    with pytest.raises(NotFound):
        simulate(merchant=merchant, amount=1, lines=None, member=member, store=theirs, at=MONDAY_NOON)
