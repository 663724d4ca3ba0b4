"""Finding members: by phone (C3), by search (C1); saving segments (C6). Which members a segment
matches is tested with its query, in `tessera/ledger/tests/test_segments.py`."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.core.errors import ValidationFailed
from tessera.members import services
from tessera.members.schemas import SegmentFilters
from tessera.members.selectors import find_member_by_phone, search_members

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
