"""Fixtures for the earning rules tests: a store in Hồ Chí Minh City time, a member, a POS."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.members.services import set_member_pin
from tessera.sales.models import SalesSettings
from tessera.sales.tests.conftest import PIN, Pos
from tessera.tenancy.services import create_api_key


@pytest.fixture
def settings_vnd(merchant):
    """The flat rate: 1 point per 10,000 đồng, rounded down."""
    return SalesSettings.for_merchant(merchant)


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="hoan-kiem", name="Hoàn Kiếm", time_zone="Asia/Ho_Chi_Minh")


@pytest.fixture
def store2(merchant):
    return StoreFactory(merchant=merchant, code="ba-dinh", name="Ba Đình")


@pytest.fixture
def member(merchant, settings_vnd):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    set_member_pin(member=member, pin=PIN)
    return member


@pytest.fixture
def pos(merchant, store):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


@pytest.fixture
def other_pos(other_merchant):
    other_store = StoreFactory(merchant=other_merchant, code="tea-1", name="Tea")
    return Pos(create_api_key(merchant=other_merchant, name="POS B", store=other_store).raw_key)
