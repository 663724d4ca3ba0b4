"""Issue 15 §4: product-level earning — rules that count lines by SKU, category and label, SKUs that earn
nothing, multipliers per product, fixed points per product, combined with basket rules by priority and
add / best of / stop; each line's share of the points, which always adds up to the sale's points."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.points.services import save_policy
from tessera.rules.lines import apportion, parse_multipliers, share_taken_back
from tessera.rules.simulator import BasketItem, simulate
from tessera.rules.tests.factories import make_rule

pytestmark = pytest.mark.django_db

MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))

SHAMPOO = BasketItem(quantity=2, line_amount=200000, sku="SH-1", category="hair", labels={"brand": "loreal"})
CREAM = BasketItem(quantity=1, line_amount=150000, sku="CR-1", category="skin", labels={"brand": "nivea"})
DELIVERY = BasketItem(quantity=1, line_amount=30000, sku="SHIP")
BASKET = [SHAMPOO, CREAM, DELIVERY]  # 380,000 đồng


def run(merchant, member, store, lines=BASKET, amount=None):
    amount = sum(line.line_amount for line in lines) if amount is None else amount
    return simulate(merchant=merchant, amount=amount, lines=lines, member=member, store=store, at=MONDAY_NOON)


def by_line(result) -> list[int]:
    return [line.points for line in result.lines]


def test_the_flat_rate_is_shared_by_amount_and_a_delivery_sku_earns_nothing(merchant, member, store):
    save_policy(merchant=merchant, non_earning_skus=[" SHIP ", "SHIP", ""])

    result = run(merchant, member, store)

    # 350,000 earn (the delivery's 30,000 does not): 35 points, 20 and 15 by amount.
    assert (result.points, by_line(result)) == (35, [20, 15, 0])
    assert [(str(name), points) for name, points in result.lines[0].parts] == [("Flat rate", 20)]


def test_a_rule_counts_only_its_categories_and_not_its_excluded_labels(merchant, member, store):
    make_rule(
        merchant, "Hair x3", points=3, include_categories=["hair", "skin"], exclude_labels=["brand:nivea"]
    )

    result = run(merchant, member, store)

    # Only the shampoo counts: 3 per 10,000 on 200,000. The flat rate is replaced as before (E5).
    assert (result.points, by_line(result)) == (60, [60, 0, 0])


def test_a_rule_none_of_whose_products_is_in_the_basket_does_not_apply(merchant, member, store):
    make_rule(merchant, "Perfume", effect="product", bonus_points=100, include_skus=["PF-9"])

    result = run(merchant, member, store)

    assert [skip.name for skip in result.skipped] == ["Perfume"]
    assert (result.points, by_line(result)) == (38, [20, 15, 3])  # the flat rate on all 380,000


def test_multipliers_per_product_take_the_largest_factor_that_matches_a_line(merchant, member, store):
    save_policy(merchant=merchant, non_earning_skus=["SHIP"])
    make_rule(
        merchant,
        "Brand days",
        effect="line_multiplier",
        line_multipliers=parse_multipliers("label:brand:loreal = 2\nsku:SH-1 = 3\ncategory:skin = 1.5"),
    )

    result = run(merchant, member, store)

    # Flat rate first (20 + 15), then the shampoo ×3 (+40) and the cream ×1.5 (+7, rounded down).
    assert (result.points, by_line(result)) == (82, [60, 22, 0])
    assert [p.points for p in result.parts] == [35, 47]


def test_fixed_points_per_unit_need_the_minimum_quantity(merchant, member, store):
    make_rule(merchant, "Base", points=1)
    make_rule(
        merchant, "Shampoo bonus", effect="product", bonus_points=50, include_skus=["SH-1"], min_quantity=2
    )
    make_rule(
        merchant, "Cream bonus", effect="product", bonus_points=50, include_skus=["CR-1"], min_quantity=2
    )

    result = run(merchant, member, store)

    assert [(s.name, s.reason) for s in result.skipped] == [
        ("Cream bonus", "1 unit(s) of the rule's products, fewer than 2")
    ]
    # Base 38 by amount (20, 15, 3), then 50 for each of the 2 shampoos.
    assert (result.points, by_line(result)) == (138, [120, 15, 3])


def test_fixed_points_once_per_sale_are_shared_among_the_products_by_amount(merchant, member, store):
    make_rule(merchant, "Base", points=1)
    make_rule(
        merchant,
        "Beauty",
        effect="product",
        product_per="sale",
        bonus_points=35,
        include_labels=["brand:loreal", "brand:nivea"],
    )

    result = run(merchant, member, store)

    # 35 shared 200,000 : 150,000 → 20 and 15.
    assert (result.points, by_line(result)) == (73, [40, 30, 3])


@pytest.mark.parametrize(
    ("combine", "expected_points", "expected_lines"),
    [
        ("add", 138, [120, 15, 3]),  # basket 38 + product 100
        ("best_of", 100, [100, 0, 0]),  # product 100 beats the basket's 38 (both best of)
        ("stop", 38, [20, 15, 3]),  # the basket rule stops the product rule after it
    ],
)
def test_a_product_rule_combines_with_a_basket_rule_by_priority_and_mode(
    merchant, member, store, combine, expected_points, expected_lines
):
    make_rule(merchant, "Basket", points=1, priority=10, combine=combine)
    make_rule(
        merchant,
        "Shampoo",
        effect="product",
        bonus_points=50,
        include_skus=["SH-1"],
        priority=20,
        combine="best_of" if combine == "best_of" else "add",
    )

    result = run(merchant, member, store)

    assert (result.points, by_line(result)) == (expected_points, expected_lines)
    assert sum(by_line(result)) == result.points


def test_a_threshold_bonus_is_shared_among_all_lines_by_amount(merchant, member, store):
    make_rule(merchant, "Base", points=1)
    make_rule(merchant, "Big basket", effect="fixed", bonus_points=100, min_total=300000)

    result = run(merchant, member, store)

    # 100 by 200,000 : 150,000 : 30,000 = 52.6 : 39.5 : 7.9 → 52, 39, 7, and the 2 left over go to the
    # largest remainders (0.9 and 0.6).
    assert by_line(result) == [20 + 53, 15 + 39, 3 + 8]
    assert result.points == 138


def test_apportion_gives_the_left_over_points_to_the_largest_remainders_earlier_first():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(7, [0, 0]) == [4, 3]
    assert apportion(100, [200000, 150000, 30000]) == [53, 39, 8]
    assert apportion(0, [5, 5]) == [0, 0]


@settings(max_examples=200, deadline=None)
@given(
    points=st.integers(0, 10**9),
    quantity=st.integers(1, 50),
    steps=st.lists(st.integers(1, 50), max_size=60),
)
def test_returns_of_a_line_in_any_steps_take_back_its_points_exactly_never_more(points, quantity, steps):
    returned = taken = 0
    for step in steps:
        step = min(step, quantity - returned)
        if step <= 0:
            break
        taken += share_taken_back(points, quantity, returned, step)
        returned += step
        assert 0 <= taken <= points
    taken += share_taken_back(points, quantity, returned, quantity - returned)
    assert taken == points


LINES = st.builds(
    BasketItem,
    quantity=st.integers(1, 5),
    line_amount=st.integers(0, 500000),
    sku=st.sampled_from(["SH-1", "CR-1", "SHIP", ""]),
    category=st.sampled_from(["hair", "skin", ""]),
    labels=st.sampled_from([{}, {"brand": "loreal"}, {"brand": "nivea", "promo": "tet"}]),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES, min_size=1, max_size=6), discount=st.integers(0, 100))
def test_the_lines_shares_add_up_to_the_points_for_any_basket(merchant, member, store, lines, discount):
    if not hasattr(merchant, "_rules_made"):
        save_policy(merchant=merchant, non_earning_skus=["SHIP"])
        make_rule(merchant, "Hair", points=2, include_categories=["hair"], priority=1)
        make_rule(
            merchant,
            "Brand x2",
            effect="line_multiplier",
            priority=2,
            line_multipliers=parse_multipliers("label:brand:loreal = 2"),
        )
        make_rule(merchant, "Per unit", effect="product", bonus_points=7, include_skus=["CR-1"], priority=3)
        make_rule(
            merchant,
            "Threshold",
            effect="fixed",
            bonus_points=33,
            min_total=300000,
            priority=4,
            combine="best_of",
        )
        make_rule(
            merchant,
            "Once",
            effect="product",
            product_per="sale",
            bonus_points=11,
            exclude_labels=["promo:tet"],
            priority=5,
            combine="best_of",
        )
        merchant._rules_made = True
    total = sum(line.line_amount for line in lines)

    result = run(merchant, member, store, lines=lines, amount=total * (100 - discount) // 100)

    assert sum(by_line(result)) == result.points
    assert all(line.points >= 0 for line in result.lines)
    assert all(line.points == 0 for line, item in zip(result.lines, lines, strict=True) if item.sku == "SHIP")
