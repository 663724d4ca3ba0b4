"""Occasion discounts through the API (issue 15 §3): birthday, anniversary, date range and weekday
windows at local midnight in Asia/Ho_Chi_Minh and Asia/Shanghai, 29 February, caps, stacking against the
tier discount, and the uses per member counted by confirm and given back by void and full refund.

The basket is always 150,000 đồng (`LINES`)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.factories import staff_user

from tessera.members.models import Member
from tessera.rewards.models import OccasionDiscount, OccasionUse
from tessera.sales.models import Transaction
from tessera.tenancy.models import Merchant, Store
from tessera.tiers.models import Tier, TierProgram
from tessera.tiers.services import save_program, save_tier, set_tier_manually

pytestmark = pytest.mark.django_db

LINES = [
    {"sku": "PHO-BO", "name": "Phở bò", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA-DA", "name": "Trà đá", "quantity": 4, "unit_price": 5000},
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


@pytest.fixture
def clock(monkeypatch):
    """Sets the time every service and request sees: `clock(instant)`."""

    def set_to(instant: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: instant)

    return set_to


def occasion(merchant: Merchant, **fields: Any) -> OccasionDiscount:
    fields.setdefault("name", "Birthday")
    fields.setdefault("kind", "birthday")
    fields.setdefault("percent", Decimal(10))
    found = OccasionDiscount(merchant=merchant, **fields)
    found.full_clean()
    found.save()
    return found


def in_zone(merchant: Merchant, store: Store, zone: str) -> None:
    Merchant.objects.filter(pk=merchant.pk).update(time_zone=zone)
    Store.objects.filter(pk=store.pk).update(time_zone="")


def quoted(pos, member: Member) -> dict[str, Any]:
    response = pos.post("/quote", {"member_id": member.pk, "lines": LINES}, key=None)
    assert response.status_code == 200, response.content
    return response.json()


def discounts(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(part["name"], part["amount"]) for part in body["discounts"]]


# --- when -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "birthday", "period", "instant", "applies"),
    [
        # The day itself, at local midnight: Hồ Chí Minh is UTC+7, Shanghai UTC+8.
        ("Asia/Ho_Chi_Minh", "1990-03-15", "day", "2027-03-14T16:59:59", False),
        ("Asia/Ho_Chi_Minh", "1990-03-15", "day", "2027-03-14T17:00:00", True),
        ("Asia/Ho_Chi_Minh", "1990-03-15", "day", "2027-03-15T16:59:59", True),
        ("Asia/Ho_Chi_Minh", "1990-03-15", "day", "2027-03-15T17:00:00", False),
        ("Asia/Shanghai", "1990-03-15", "day", "2027-03-14T15:59:59", False),
        ("Asia/Shanghai", "1990-03-15", "day", "2027-03-14T16:00:00", True),
        ("Asia/Shanghai", "1990-03-15", "day", "2027-03-15T15:59:59", True),
        ("Asia/Shanghai", "1990-03-15", "day", "2027-03-15T16:00:00", False),
        # The week, Monday to Sunday, across the new year: 31 December 2026 is a Thursday.
        ("Asia/Ho_Chi_Minh", "1985-12-31", "week", "2026-12-27T16:59:59", False),
        ("Asia/Ho_Chi_Minh", "1985-12-31", "week", "2026-12-27T17:00:00", True),
        ("Asia/Ho_Chi_Minh", "1985-12-31", "week", "2027-01-03T16:59:59", True),
        ("Asia/Ho_Chi_Minh", "1985-12-31", "week", "2027-01-03T17:00:00", False),
        ("Asia/Shanghai", "1985-12-31", "week", "2027-01-03T15:59:59", True),
        ("Asia/Shanghai", "1985-12-31", "week", "2027-01-03T16:00:00", False),
        # The month.
        ("Asia/Ho_Chi_Minh", "1990-03-15", "month", "2027-02-28T16:59:59", False),
        ("Asia/Ho_Chi_Minh", "1990-03-15", "month", "2027-02-28T17:00:00", True),
        ("Asia/Shanghai", "1990-03-15", "month", "2027-03-31T15:59:59", True),
        ("Asia/Shanghai", "1990-03-15", "month", "2027-03-31T16:00:00", False),
        # 29 February: kept on 28 February in a year without it (2027), on the day in a leap year (2028).
        ("Asia/Ho_Chi_Minh", "2000-02-29", "day", "2027-02-27T16:59:59", False),
        ("Asia/Ho_Chi_Minh", "2000-02-29", "day", "2027-02-27T17:00:00", True),
        ("Asia/Ho_Chi_Minh", "2000-02-29", "day", "2027-02-28T17:00:00", False),  # 1 March
        ("Asia/Shanghai", "2000-02-29", "day", "2028-02-28T15:00:00", False),  # 28 Feb 2028, 23:00
        ("Asia/Shanghai", "2000-02-29", "day", "2028-02-28T16:00:00", True),  # 29 Feb 2028, 00:00
        ("Asia/Shanghai", "2000-02-29", "month", "2027-02-28T15:59:59", True),
        ("Asia/Shanghai", "2000-02-29", "month", "2027-02-28T16:00:00", False),
        # Its week in 2027: 28 February 2027 is a Sunday, so Monday 22 to Sunday 28 February.
        ("Asia/Ho_Chi_Minh", "2000-02-29", "week", "2027-02-21T17:00:00", True),
        ("Asia/Ho_Chi_Minh", "2000-02-29", "week", "2027-02-28T17:00:00", False),
    ],
)
def test_birthday_windows_at_local_midnight(
    pos, merchant, store, member, clock, zone, birthday, period, instant, applies
):
    in_zone(merchant, store, zone)
    Member.objects.filter(pk=member.pk).update(birthday=date.fromisoformat(birthday))
    occasion(merchant, period=period)
    clock(utc(instant))

    body = quoted(pos, member)

    assert discounts(body) == ([("Birthday", 15000)] if applies else [])
    assert body["amount_due"] == (135000 if applies else 150000)


def test_the_store_zone_decides_before_the_merchant_zone(pos, merchant, store, member, clock):
    """Merchant in Hồ Chí Minh, store in Shanghai: 16:30 UTC is already the birthday in the store."""
    in_zone(merchant, store, "Asia/Ho_Chi_Minh")
    Store.objects.filter(pk=store.pk).update(time_zone="Asia/Shanghai")
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))
    occasion(merchant, period="day")
    clock(utc("2027-03-14T16:30:00"))

    assert discounts(quoted(pos, member)) == [("Birthday", 15000)]


def test_a_member_without_a_birthday_gets_no_birthday_discount(pos, merchant, member, clock):
    occasion(merchant, period="month")
    clock(utc("2027-03-14T17:00:00"))

    assert quoted(pos, member)["discounts"] == []


@pytest.mark.parametrize(
    ("joined", "instant", "period", "applies"),
    [
        ("2025-06-09T17:00:00", "2026-06-09T16:59:59", "day", False),  # 9 June 23:59 local
        ("2025-06-09T17:00:00", "2026-06-09T17:00:00", "day", True),  # 10 June 00:00: one year
        ("2025-06-09T17:00:00", "2025-06-10T03:00:00", "day", False),  # the joining day is not one
        ("2025-06-09T17:00:00", "2025-06-20T03:00:00", "month", False),  # nor its month
        ("2025-06-09T17:00:00", "2027-06-30T16:59:59", "month", True),
        ("2025-06-09T17:00:00", "2027-06-30T17:00:00", "month", False),
    ],
)
def test_membership_anniversary_counts_from_the_joining_day(
    pos, merchant, member, clock, joined, instant, period, applies
):
    """Joined at 00:00 on 10 June 2025 in Hồ Chí Minh (17:00 UTC the day before)."""
    Member.objects.filter(pk=member.pk).update(created_at=utc(joined))
    occasion(merchant, name="Anniversary", kind="anniversary", period=period, percent=Decimal(5))
    clock(utc(instant))

    assert discounts(quoted(pos, member)) == ([("Anniversary", 7500)] if applies else [])


@pytest.mark.parametrize(
    ("zone", "instant", "applies"),
    [
        # Saturdays only; 1 January 2027 is a Friday.
        ("Asia/Ho_Chi_Minh", "2027-01-01T16:59:59", False),
        ("Asia/Ho_Chi_Minh", "2027-01-01T17:00:00", True),
        ("Asia/Ho_Chi_Minh", "2027-01-02T16:59:59", True),
        ("Asia/Ho_Chi_Minh", "2027-01-02T17:00:00", False),
        ("Asia/Shanghai", "2027-01-01T15:59:59", False),
        ("Asia/Shanghai", "2027-01-01T16:00:00", True),
        ("Asia/Shanghai", "2027-01-02T16:00:00", False),
    ],
)
def test_weekday_discount_turns_at_local_midnight(
    pos, merchant, store, member, clock, zone, instant, applies
):
    in_zone(merchant, store, zone)
    occasion(merchant, name="Saturday", kind="weekday", weekdays="6", percent=Decimal(20))
    clock(utc(instant))

    body = quoted(pos, member)

    assert discounts(body) == ([("Saturday", 30000)] if applies else [])


@pytest.mark.parametrize(
    ("instant", "applies"),
    [
        ("2027-01-31T16:59:59", False),  # 31 January, 23:59:59 in Hồ Chí Minh
        ("2027-01-31T17:00:00", True),  # 1 February, the first day
        ("2027-02-07T16:59:59", True),  # 7 February, the last day, included
        ("2027-02-07T17:00:00", False),
    ],
)
def test_date_range_includes_both_ends(pos, merchant, member, clock, instant, applies):
    occasion(
        merchant,
        name="Tết",
        kind="date_range",
        starts_on=date(2027, 2, 1),
        ends_on=date(2027, 2, 7),
        percent=Decimal(8),
    )
    clock(utc(instant))

    assert discounts(quoted(pos, member)) == ([("Tết", 12000)] if applies else [])


# --- how much -------------------------------------------------------------------------------------------


def in_tier(member: Member, percent: int) -> None:
    save_program(program=TierProgram(merchant=member.merchant), actor=None)
    tier = save_tier(
        tier=Tier(
            merchant=member.merchant,
            code="gold",
            name="Gold",
            rank=1,
            threshold=10**9,
            discount_percent=percent,
        ),
        actor=None,
    )
    set_tier_manually(member=member, tier=tier)


@pytest.mark.parametrize(
    ("tier", "percent", "cap", "stacking", "expected"),
    [
        (0, 10, None, "best_of", [("Birthday", 15000)]),
        (0, 10, None, "only_one", [("Birthday", 15000)]),
        (5, 10, None, "best_of", [("Birthday", 15000)]),
        (10, 5, None, "best_of", [("Gold", 15000)]),
        (10, 10, None, "best_of", [("Gold", 15000)]),  # a tie keeps the tier discount
        (5, 10, 5000, "best_of", [("Gold", 7500)]),  # capped at 5,000 < 7,500
        (5, 10, None, "add", [("Gold", 7500), ("Birthday", 15000)]),
        (5, 10, 10000, "add", [("Gold", 7500), ("Birthday", 10000)]),
        (60, 50, None, "add", [("Gold", 90000), ("Birthday", 60000)]),  # never more than the total
        (10, 5, None, "only_one", [("Birthday", 7500)]),  # replaces the tier's, even smaller
        (5, 10, 3000, "only_one", [("Birthday", 3000)]),
    ],
)
def test_stacking_with_the_tier_discount(
    pos, merchant, member, clock, tier, percent, cap, stacking, expected
):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))
    if tier:
        in_tier(member, tier)
    occasion(merchant, period="month", percent=Decimal(percent), max_discount=cap, stacking=stacking)
    clock(utc("2027-03-20T05:00:00"))

    body = quoted(pos, member)

    assert discounts(body) == expected
    assert body["discount_amount"] == sum(amount for _name, amount in expected)
    assert body["amount_due"] == 150000 - body["discount_amount"]
    # Points are earned on what is paid after the discounts: 1 point per 10,000 đồng.
    assert body["points_to_earn"] == body["amount_due"] // 10000


def test_of_several_occasions_the_one_giving_most_applies(pos, merchant, member, clock):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))
    occasion(merchant, period="month", percent=Decimal(10), max_discount=10000)
    occasion(merchant, name="Saturday", kind="weekday", weekdays="6", percent=Decimal(12))
    clock(utc("2027-03-20T05:00:00"))  # a Saturday in the birthday month

    assert discounts(quoted(pos, member)) == [("Saturday", 18000)]


def test_the_explanation_says_why_in_the_reader_language(pos, merchant, member, clock):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))
    in_tier(member, 5)
    occasion(merchant, period="week", percent=Decimal(10), max_discount=12000, stacking="only_one")
    clock(utc("2027-03-15T05:00:00"))

    body = quoted(pos, member)
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()

    (part,) = body["discounts"]
    assert part["explanation"] == (
        "10% off ₫150,000: birthday this week (15/03), capped at ₫12,000, instead of the tier discount (Gold)"
    )
    assert sale["discounts"] == body["discounts"]
    stored = Transaction.objects.get(pk=sale["id"]).discount_parts
    assert stored[0]["explanation"]["text"] == "%(why)s, instead of the tier discount (%(tier)s)"


# --- uses per member ------------------------------------------------------------------------------------


@pytest.fixture
def once_per_birthday(merchant, member, clock):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))
    clock(utc("2027-03-20T05:00:00"))
    return occasion(merchant, period="month", max_uses=1)


def sell(pos, member: Member) -> dict[str, Any]:
    created = pos.post("/transactions", {"member_id": member.pk, "lines": LINES})
    assert created.status_code == 201, created.content
    return created.json()


def confirm(pos, sale: dict[str, Any]) -> Any:
    return pos.post(f"/transactions/{sale['id']}/confirm", {"method": "none"})


@pytest.fixture
def no_verification(rules):
    rules.confirm_with_pin = rules.confirm_with_otp = rules.confirm_with_staff = False
    rules.save()


def uses(found: OccasionDiscount, member: Member) -> int:
    row = OccasionUse.objects.filter(occasion=found, member=member).first()
    return row.uses if row else 0


def test_confirm_counts_the_use_and_the_next_quote_leaves_it_out(
    pos, member, once_per_birthday, no_verification
):
    sale = sell(pos, member)
    assert sale["discount_amount"] == 15000
    assert uses(once_per_birthday, member) == 0  # created, not confirmed: nothing used yet

    assert confirm(pos, sale).status_code == 200

    assert uses(once_per_birthday, member) == 1
    assert quoted(pos, member)["discounts"] == []


def test_a_second_pending_sale_cannot_use_it_again(pos, member, once_per_birthday, no_verification):
    first, second = sell(pos, member), sell(pos, member)
    assert first["discount_amount"] == second["discount_amount"] == 15000

    assert confirm(pos, first).status_code == 200
    refused = confirm(pos, second)

    assert refused.status_code == 409, refused.content
    assert refused.json()["code"] == "occasion_discount_used_up"
    assert pos.get(f"/transactions/{second['id']}").json()["status"] == "pending"
    assert uses(once_per_birthday, member) == 1


def test_void_of_a_confirmed_sale_gives_the_use_back(pos, member, once_per_birthday, no_verification):
    sale = sell(pos, member)
    confirm(pos, sale)

    assert pos.post(f"/transactions/{sale['id']}/void", {"reason": "wrong member"}).status_code == 200

    assert uses(once_per_birthday, member) == 0
    assert discounts(quoted(pos, member)) == [("Birthday", 15000)]


def test_void_of_a_pending_sale_used_nothing(pos, member, once_per_birthday, no_verification):
    sale = sell(pos, member)
    pos.post(f"/transactions/{sale['id']}/void", {"reason": "left"})
    assert uses(once_per_birthday, member) == 0
    assert confirm(pos, sell(pos, member)).status_code == 200
    assert uses(once_per_birthday, member) == 1


def test_only_the_refund_completing_the_return_gives_the_use_back(
    pos, member, once_per_birthday, no_verification
):
    sale = confirm(pos, sell(pos, member)).json()
    first_line, second_line = sale["lines"]

    partial = pos.post(
        f"/transactions/{sale['id']}/refunds", {"lines": [{"line_id": first_line["id"], "quantity": 2}]}
    )
    assert partial.status_code == 201, partial.content
    assert uses(once_per_birthday, member) == 1

    rest = pos.post(f"/transactions/{sale['id']}/refunds", {})
    assert rest.status_code == 201, rest.content
    assert rest.json()["completes_return"] is True
    assert uses(once_per_birthday, member) == 0

    # A void after the complete return gives nothing back a second time.
    pos.post(f"/transactions/{sale['id']}/void", {"reason": "again"})
    assert uses(once_per_birthday, member) == 0
    del second_line


def test_uses_are_per_occasion(pos, merchant, member, once_per_birthday, no_verification, clock):
    confirm(pos, sell(pos, member))
    clock(utc("2028-03-20T05:00:00"))  # next year's birthday month

    sale = sell(pos, member)

    assert sale["discount_amount"] == 15000
    assert confirm(pos, sale).status_code == 200
    assert sorted(OccasionUse.objects.values_list("period_start", "uses")) == [
        (date(2027, 3, 1), 1),
        (date(2028, 3, 1), 1),
    ]


def test_the_receipt_shows_each_discount_and_why(
    client, merchant, store, member, once_per_birthday, no_verification, pos
):
    sale = confirm(pos, sell(pos, member)).json()
    client.force_login(staff_user(merchant, "cashier").user)

    page = client.get(reverse("backoffice:cashier_receipt", args=[sale["id"]]))

    assert page.status_code == 200
    text = page.content.decode()
    # The cashier's page is in the merchant's language (Vietnamese): the why is worded in it.
    row = re.search(r'<tr class="receipt-discount">(.*?)</tr>', text, re.S)
    assert row is not None
    assert "Birthday" in row.group(1) and "−15.000\xa0₫" in row.group(1)
    assert "(15/03)" in row.group(1) and "150.000\xa0₫" in row.group(1)


# --- back office --------------------------------------------------------------------------------------


def test_the_back_office_saves_an_occasion_and_the_tills_see_it_next(
    client, merchant, other_merchant, pos, member
):
    theirs = occasion(other_merchant, name="Their birthday")
    client.force_login(staff_user(merchant, "merchant_admin").user)
    version = Merchant.objects.get(pk=merchant.pk).config_version
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 3, 15))

    added = client.post(
        reverse("admin:rewards_occasiondiscount_add"),
        {
            "name": "Weekend",
            "kind": "weekday",
            "period": "day",
            "weekdays": ["7", "6"],
            "percent": "15",
            "max_discount": "20.000",
            "stacking": "add",
            "is_active": "on",
        },
    )

    assert added.status_code == 302, added.content.decode()[-3000:]
    saved = OccasionDiscount.objects.get(merchant=merchant)
    assert (saved.weekdays, saved.max_discount, saved.stacking) == ("67", 20000, "add")
    assert Merchant.objects.get(pk=merchant.pk).config_version != version
    listing = client.get(reverse("admin:rewards_occasiondiscount_changelist")).content.decode()
    assert "Weekend" in listing and "Their birthday" not in listing
    foreign = client.get(reverse("admin:rewards_occasiondiscount_change", args=[theirs.pk]))
    assert foreign.status_code in (302, 404)
