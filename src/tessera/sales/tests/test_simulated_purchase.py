"""The simulator explains occasion discounts and the bonuses of a first purchase (issue 15 §3, §5) and
decides them as the sale does: `POST /rules/simulate` against `POST /quote` for the same member, basket
and moment, and its bonuses against what the confirmation then gives. In Asia/Ho_Chi_Minh, with
birthdays on the edge of their week and month; the back-office simulator page shows the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from tests.factories import MemberFactory

from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member
from tessera.rewards import bonuses
from tessera.rewards.models import BonusGrant, BonusKind, BonusRule
from tessera.sales.tests.test_occasion_discounts import LINES, in_tier, in_zone, occasion, utc

pytestmark = pytest.mark.django_db

HCM = "Asia/Ho_Chi_Minh"


@pytest.fixture
def clock(monkeypatch):
    from django.utils import timezone

    def set_to(instant):
        monkeypatch.setattr(timezone, "now", lambda: instant)

    return set_to


@pytest.fixture
def till(pos, rules):
    """Sales need no confirmation."""
    rules.confirm_with_pin = rules.confirm_with_otp = rules.confirm_with_staff = False
    rules.save()
    return pos


def simulated(pos, member: Member, **extra: Any) -> dict[str, Any]:
    answer = pos.post("/rules/simulate", {"member_id": member.pk, "lines": LINES, **extra}, key=None)
    assert answer.status_code == 200, answer.content
    return answer.json()


def quoted(pos, member: Member) -> dict[str, Any]:
    answer = pos.post("/quote", {"member_id": member.pk, "lines": LINES}, key=None)
    assert answer.status_code == 200, answer.content
    return answer.json()


def confirmed(pos, member: Member) -> dict[str, Any]:
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES})
    assert sale.status_code == 201, sale.content
    answer = pos.post(f"/transactions/{sale.json()['id']}/confirm", {"method": "none"})
    assert answer.status_code == 200, answer.content
    return answer.json()


@pytest.mark.parametrize(
    ("birthday", "period", "instant", "tier", "percent", "cap", "stacking", "expected", "applies"),
    [
        # Birthday on Sunday 14 March 2027, the last day of its week (Monday 8 – Sunday 14).
        ("1990-03-14", "week", "2027-03-14T16:59:59", 0, 10, None, "best_of", [("Birthday", 15000)], True),
        ("1990-03-14", "week", "2027-03-14T17:00:00", 0, 10, None, "best_of", [], False),  # Monday 15
        ("1990-03-14", "week", "2027-03-07T16:59:59", 0, 10, None, "best_of", [], False),  # Sunday 7
        ("1990-03-14", "week", "2027-03-07T17:00:00", 5, 10, 12000, "best_of", [("Birthday", 12000)], True),
        # Birthday on 31 March, the last day of its month.
        (
            "1990-03-31",
            "month",
            "2027-03-31T16:59:59",
            5,
            10,
            None,
            "add",
            [("Gold", 7500), ("Birthday", 15000)],
            True,
        ),
        (
            "1990-03-31",
            "month",
            "2027-03-31T17:00:00",
            5,
            10,
            None,
            "add",
            [("Gold", 7500)],
            False,
        ),  # 1 April
        ("1990-03-31", "month", "2027-02-28T17:00:00", 10, 5, None, "best_of", [("Gold", 15000)], False),
        ("1990-03-31", "month", "2027-02-28T17:00:00", 10, 5, None, "only_one", [("Birthday", 7500)], True),
        # 31 December 2026 is a Thursday: its week runs into January 2027.
        ("1985-12-31", "week", "2027-01-03T16:59:59", 5, 10, 3000, "only_one", [("Birthday", 3000)], True),
        ("1985-12-31", "day", "2026-12-30T17:00:00", 0, 10, None, "best_of", [("Birthday", 15000)], True),
        ("1985-12-31", "day", "2026-12-31T17:00:00", 0, 10, None, "best_of", [], False),  # 1 January
    ],
)
def test_simulated_discounts_are_the_quotes(
    till,
    merchant,
    store,
    member,
    clock,
    birthday,
    period,
    instant,
    tier,
    percent,
    cap,
    stacking,
    expected,
    applies,
):
    in_zone(merchant, store, HCM)
    Member.objects.filter(pk=member.pk).update(birthday=date.fromisoformat(birthday))
    if tier:
        in_tier(member, tier)
    birthday_off = occasion(
        merchant, period=period, percent=Decimal(percent), max_discount=cap, stacking=stacking
    )
    clock(utc(instant))

    simulation, quote = simulated(till, member), quoted(till, member)

    assert [(part["name"], part["amount"]) for part in simulation["discounts"]] == expected
    assert simulation["discounts"] == quote["discounts"]
    assert (simulation["discount_amount"], simulation["amount_due"]) == (
        quote["discount_amount"],
        quote["amount_due"],
    )
    # Points are earned on the amount due, as the quote earns them.
    assert simulation["points"] == quote["points_to_earn"] == quote["amount_due"] // 10000
    (seen,) = simulation["occasions"]
    assert seen["occasion_id"] == birthday_off.pk
    assert (seen["percent"], seen["cap"], seen["stacking"], seen["period"]) == (
        f"{percent}.00",
        cap,
        stacking,
        period,
    )
    assert seen["applies"] is applies
    confirmed_sale = confirmed(till, member)
    assert confirmed_sale["discounts"] == simulation["discounts"]
    assert confirmed_sale["points_earned"] == simulation["points"]


def test_the_occasion_says_why_it_does_not_apply(till, merchant, store, member, clock):
    in_zone(merchant, store, HCM)
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 31))
    in_tier(member, 10)
    occasion(merchant, period="month", percent=Decimal(5))
    occasion(merchant, name="Saturday", kind="weekday", weekdays="6", percent=Decimal(20))
    occasion(merchant, name="Once", period="month", percent=Decimal(30), max_uses=1)
    clock(utc("2027-03-31T05:00:00"))  # a Wednesday in the birthday month
    confirmed(till, member)  # uses "Once"

    answer = simulated(till, member)

    assert [(seen["name"], seen["applies"], seen["explanation"]) for seen in answer["occasions"]] == [
        ("Birthday", False, "best of: the tier discount (Gold) is at least as large"),
        ("Saturday", False, "not an occasion on 2027-03-31"),
        ("Once", False, "already used 1 time(s) this occasion, the most allowed"),
    ]
    assert [part["name"] for part in answer["discounts"]] == ["Gold"]


def rule(merchant, kind: str, points: int, **fields: Any) -> BonusRule:
    return bonuses.save_bonus_rule(
        rule=BonusRule(merchant=merchant, name=f"{kind} {points}", kind=kind, points=points, **fields)
    )


@pytest.mark.parametrize(
    ("first_min", "referral", "referred", "expected"),
    [
        # (rule, recipient, points, given, code)
        (100_000, None, False, [("first_purchase 50", "member", 50, True, "")]),
        (160_000, None, False, [("first_purchase 50", "member", 0, False, "below_minimum")]),
        (
            0,
            {"referrer_points": 30},
            True,
            [
                ("first_purchase 50", "member", 50, True, ""),
                ("referral 20", "member", 20, True, ""),
                ("referral 20", "referrer", 30, True, ""),
            ],
        ),
        (
            0,
            {"referrer_points": 30, "min_amount": 200_000},
            True,
            [
                ("first_purchase 50", "member", 50, True, ""),
                ("referral 20", "member", 0, False, "below_minimum"),
            ],
        ),
        (
            0,
            {"referrer_points": 0},
            False,
            [
                ("first_purchase 50", "member", 50, True, ""),
                ("referral 20", "member", 0, False, "not_referred"),
            ],
        ),
    ],
)
def test_simulated_first_purchase_bonuses_are_what_the_confirmation_gives(
    till, merchant, store, clock, first_min, referral, referred, expected
):
    in_zone(merchant, store, HCM)
    clock(utc("2027-03-31T05:00:00"))
    rule(merchant, BonusKind.FIRST_PURCHASE, 50, min_amount=first_min, per_day=1)
    if referral is not None:
        rule(merchant, BonusKind.REFERRAL, 20, **referral)
    referrer = MemberFactory(merchant=merchant, phone="+84903000001")
    buyer = MemberFactory(merchant=merchant, phone="+84903000002")
    if referred:
        Member.objects.filter(pk=buyer.pk).update(referred_by=referrer)
        buyer.refresh_from_db()

    answer = simulated(till, buyer)

    assert answer["first_purchase"] is True
    assert [
        (b["name"], b["recipient"], b["points"], b["given"], b["code"]) for b in answer["bonuses"]
    ] == expected
    assert answer["bonuses"][0]["limits"]["per_day"] == 1
    assert answer["bonuses"][0]["limits"]["min_amount"] == first_min
    confirmed(till, buyer)
    given = sorted(BonusGrant.objects.filter(merchant=merchant).values_list("rule_id", "member_id", "points"))
    assert given == sorted(
        (b["rule_id"], b["member_id"], b["points"]) for b in answer["bonuses"] if b["given"]
    )
    # The second purchase is not a first one: the simulator says so, and the confirmation gives nothing.
    again = simulated(till, buyer)
    assert again["first_purchase"] is False
    assert {b["code"] for b in again["bonuses"]} == {"not_first_purchase"}
    confirmed(till, buyer)
    assert BonusGrant.objects.filter(merchant=merchant).count() == len(given)
    assert verify_ledger(merchant) == []


def test_a_limit_reached_is_shown_as_the_confirmation_would_refuse(till, merchant, store, clock):
    """A referrer rewarded once per day: the second friend's first purchase that day gives them nothing."""
    in_zone(merchant, store, HCM)
    clock(utc("2027-03-31T05:00:00"))
    rule(merchant, BonusKind.REFERRAL, 0, referrer_points=30, per_day=1)
    referrer = MemberFactory(merchant=merchant, phone="+84903000001")
    friends = [MemberFactory(merchant=merchant, phone=f"+8490300000{n}") for n in (2, 3)]
    Member.objects.filter(pk__in=[f.pk for f in friends]).update(referred_by=referrer)
    for friend in friends:
        friend.refresh_from_db()
    confirmed(till, friends[0])

    (bonus,) = simulated(till, friends[1])["bonuses"]

    assert (bonus["given"], bonus["code"], bonus["member_id"]) == (False, "limit_per_day", referrer.pk)
    confirmed(till, friends[1])
    assert BonusGrant.objects.filter(member=referrer).count() == 1


def test_the_simulator_page_shows_the_discounts_occasions_and_bonuses(
    client, merchant, store, member, clock, rules
):
    """The back office's simulator, in the store's zone: the birthday week's last day (Sunday)."""
    in_zone(merchant, store, HCM)
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 14))
    in_tier(member, 5)
    occasion(merchant, period="week", percent=Decimal(10), max_discount=12000)
    rule(merchant, BonusKind.FIRST_PURCHASE, 50)
    from tests.factories import staff_user

    client.force_login(staff_user(merchant, "merchant_admin").user)

    response = client.post(
        reverse("admin:rules_earningrule_simulator"),
        {
            "phone": str(member.phone),
            "store": str(store.pk),
            "date": "2027-03-14",
            "time": "23:30",
            "lines": "PHO-BO; 2; 130000\nTRA-DA; 4; 20000",
        },
    )

    assert response.status_code == 200, response.content
    purchase = response.context["purchase"]
    assert [(d.name, d.amount) for d in purchase.discounts] == [("Birthday", 12000)]
    assert (purchase.total, purchase.amount_due) == (150000, 138000)
    assert response.context["result"].points == 13
    page = response.content.decode()
    assert 'id="simulation-occasions"' in page and 'data-applies="true"' in page
    assert 'data-stacking="best_of"' in page and 'data-amount="12000"' in page
    assert 'id="simulation-bonuses"' in page and 'data-given="true"' in page
