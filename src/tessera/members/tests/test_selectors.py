"""Finding members: by phone (C3), by search (C1), by segment (C6)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.core.errors import ValidationFailed
from tessera.members import services
from tessera.members.models import Gender, MemberStatus
from tessera.members.selectors import SegmentFilters, find_member_by_phone, members_in_segment, search_members
from tessera.members.tests.factories import give_points

pytestmark = pytest.mark.django_db


def test_find_member_by_phone_accepts_local_formats_and_stays_in_the_merchant(merchant, other_merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    MemberFactory(merchant=other_merchant, phone="+84911222333")

    assert find_member_by_phone(merchant=merchant, phone="090-312-3456") == member
    assert find_member_by_phone(merchant=merchant, phone="0911222333") is None
    assert find_member_by_phone(merchant=merchant, phone="not a phone") is None


@pytest.fixture
def people(merchant):
    return {
        "an": MemberFactory(merchant=merchant, full_name="Nguyễn Văn An", phone="+84903123456"),
        "short": MemberFactory(merchant=merchant, full_name="An", phone="+84911000111"),
        "binh": MemberFactory(merchant=merchant, full_name="Trần Thị Bình", phone="+84988777666"),
        "ming": MemberFactory(merchant=merchant, full_name="王小明", phone="+84977555444"),
        "mail": MemberFactory(merchant=merchant, full_name="Đặng Lộc", email="loc.dang@example.com"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("nguyen van an", {"an"}),
        ("Nguyễn Văn An", {"an"}),
        ("NGUYEN", {"an"}),
        ("binh", {"binh"}),
        ("dang loc", {"mail"}),
        ("小明", {"ming"}),
        ("wang xiao", {"ming"}),
        ("0903 123", {"an"}),
        ("090-312-3456", {"an"}),
        ("+84 90 312", {"an"}),
        ("777666", {"binh"}),
        ("loc.dang@", {"mail"}),
        ("nobody", set()),
    ],
)
def test_c1_search_finds_members_by_name_without_diacritics_phone_fragment_or_email(
    merchant, people, query, expected
):
    found = set(search_members(merchant=merchant, query=query))
    assert found == {people[key] for key in expected}


def test_c1_short_name_search_finds_the_member_called_an(merchant, people):
    found = set(search_members(merchant=merchant, query="an"))
    assert people["short"] in found
    assert people["an"] in found
    assert people["binh"] not in found


def test_c1_search_never_crosses_merchants(merchant, other_merchant, people):
    MemberFactory(merchant=other_merchant, full_name="Nguyễn Văn An")
    assert list(search_members(merchant=merchant, query="nguyen van an")) == [people["an"]]


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


def test_c6_saved_segment_keeps_only_the_filters_that_were_set(merchant):
    vip = services.save_tag(merchant=merchant, name="VIP")
    segment = services.save_segment(
        merchant=merchant, name="June birthdays", filters={"birthday_month": 6, "tags": [vip.pk]}
    )
    assert segment.filters == {"birthday_month": 6, "tags": [vip.pk]}
    assert SegmentFilters.model_validate(segment.filters).birthday_month == 6


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"birthday_month": 13}, "birthday_month"),
        ({"min_age": 40, "max_age": 30}, ""),
        ({"status": ["sleeping"]}, "status.0"),
        ({"colour": "red"}, "colour"),
        ({"joined_from": "yesterday"}, "joined_from"),
        ({"min_points": -5}, "min_points"),
    ],
)
def test_c6_invalid_segment_filters_are_refused_with_the_field_at_fault(merchant, filters, field):
    with pytest.raises(ValidationFailed) as caught:
        services.save_segment(merchant=merchant, name="Bad", filters=filters)
    assert caught.value.code == "invalid_segment"
    assert field in [e["field"] for e in caught.value.detail["errors"]]


def test_c6_segment_refuses_stores_and_tags_of_another_merchant(merchant, other_merchant):
    foreign_store = StoreFactory(merchant=other_merchant)
    foreign_tag = services.save_tag(merchant=other_merchant, name="VIP")
    with pytest.raises(ValidationFailed) as caught:
        services.save_segment(
            merchant=merchant, name="X", filters={"home_stores": [foreign_store.pk], "tags": [foreign_tag.pk]}
        )
    assert [e["field"] for e in caught.value.detail["errors"]] == ["home_stores", "tags"]
