"""Which members a saved segment matches (C6): every filter, the merchant's calendar days, and only
current accounts of the merchant."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.ledger.segments import members_in_segment
from tessera.members import services
from tessera.members.models import Gender, MemberStatus
from tessera.members.schemas import SegmentFilters
from tessera.members.tests.factories import give_points

pytestmark = pytest.mark.django_db


TODAY = date(2026, 6, 15)


@pytest.fixture
def crowd(merchant):
    """Five members with differing profiles, points and last visits, for the segment table."""
    north, south = (
        StoreFactory(merchant=merchant, name="North"),
        StoreFactory(merchant=merchant, name="South"),
    )
    vip = services.save_tag(merchant=merchant, name="VIP")
    late = services.save_tag(merchant=merchant, name="Late payer")
    people = {
        "lan": MemberFactory(
            merchant=merchant,
            full_name="Lan",
            birthday=date(1996, 6, 15),  # 30 today
            gender=Gender.FEMALE,
            region="Hà Nội",
            occupation="Software engineer",
            home_store=north,
            tags=[vip],
        ),
        "hung": MemberFactory(
            merchant=merchant,
            full_name="Hùng",
            birthday=date(1996, 6, 16),  # still 29 today
            gender=Gender.MALE,
            region="hà nội",
            occupation="Teacher",
            home_store=south,
            tags=[late],
        ),
        "mai": MemberFactory(
            merchant=merchant,
            full_name="Mai",
            birthday=date(1961, 1, 2),  # 65
            gender=Gender.FEMALE,
            region="Đà Nẵng",
            home_store=north,
        ),
        "tuan": MemberFactory(merchant=merchant, full_name="Tuấn", status=MemberStatus.NOT_ACTIVATED),
        "khoa": MemberFactory(merchant=merchant, full_name="Khoa", status=MemberStatus.EXCLUDED),
    }
    give_points(people["lan"], 1200, at=datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    give_points(people["hung"], 200, at=datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    give_points(people["mai"], 50, at=datetime(2025, 12, 31, 18, 0, tzinfo=UTC))  # 1 Jan 2026 in Hanoi
    return {"people": people, "north": north, "south": south, "vip": vip, "late": late}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"lan", "hung", "mai", "tuan", "khoa"}),
        ({"status": ["active"]}, {"lan", "hung", "mai"}),
        ({"status": ["not_activated", "excluded"]}, {"tuan", "khoa"}),
        ({"home_stores": ["north"]}, {"lan", "mai"}),
        ({"birthday_month": 6}, {"lan", "hung"}),
        ({"min_age": 30}, {"lan", "mai"}),
        ({"min_age": 25, "max_age": 29}, {"hung"}),
        ({"max_age": 30}, {"lan", "hung"}),
        ({"region": "Hà Nội"}, {"lan", "hung"}),
        ({"occupation": "engineer"}, {"lan"}),
        ({"tags": ["vip", "late"]}, {"lan", "hung"}),
        ({"gender": "female"}, {"lan", "mai"}),
        ({"min_points": 200}, {"lan", "hung"}),
        ({"max_points": 100}, {"mai", "tuan", "khoa"}),
        ({"min_points": 100, "max_points": 500}, {"hung"}),
        ({"last_visit_after": "2026-03-10"}, {"lan", "hung"}),
        ({"last_visit_before": "2025-12-31"}, set()),
        ({"last_visit_before": "2026-01-01"}, {"mai"}),
        ({"last_visit_after": "2026-01-01", "last_visit_before": "2026-05-31"}, {"mai", "hung"}),
        ({"gender": "female", "min_points": 100}, {"lan"}),
    ],
)
def test_c6_segment_filters(merchant, crowd, filters, expected):
    refs = {
        "north": crowd["north"].pk,
        "south": crowd["south"].pk,
        "vip": crowd["vip"].pk,
        "late": crowd["late"].pk,
    }
    for key in ("home_stores", "tags"):
        if key in filters:
            filters[key] = [refs[v] for v in filters[key]]

    found = members_in_segment(merchant=merchant, filters=SegmentFilters(**filters), today=TODAY)

    assert {m.full_name.lower() for m in found} == {
        crowd["people"][key].full_name.lower() for key in expected
    }


def test_c6_joined_dates_are_the_merchants_calendar_days(merchant):
    member = MemberFactory(merchant=merchant)
    joined = member.created_at.astimezone(merchant.tz).date()

    def count(**filters: object) -> int:
        return members_in_segment(merchant=merchant, filters=SegmentFilters(**filters)).count()

    assert count(joined_from=joined, joined_to=joined) == 1
    assert count(joined_from=date(joined.year + 1, 1, 1)) == 0
    assert count(joined_to=date(joined.year - 1, 12, 31)) == 0


def test_c6_segments_leave_out_replaced_and_erased_accounts_and_other_merchants(merchant, other_merchant):
    kept = MemberFactory(merchant=merchant)
    replaced = MemberFactory(merchant=merchant)
    new = services.change_phone(member=replaced, new_phone="0911222333", actor=None)
    services.erase_member(member=MemberFactory(merchant=merchant), actor=None)
    MemberFactory(merchant=other_merchant)

    assert set(members_in_segment(merchant=merchant, filters=SegmentFilters())) == {kept, new}
