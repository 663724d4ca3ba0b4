"""Fixtures for the rewards tests: a store, a member with points, a POS client."""

from __future__ import annotations

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.ledger.models import Account, AccountKind
from tessera.sales import services as sales
from tessera.sales.models import SalesSettings
from tessera.sales.tests.conftest import Pos
from tessera.tenancy.services import create_api_key


def points_of(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def give_points(member, store, points: int) -> None:
    sales.add_points(member=member, store=store, actor=None, points=points)


@pytest.fixture
def store(merchant):
    SalesSettings.for_merchant(merchant)
    return StoreFactory(merchant=merchant, code="hoan-kiem", name="Hoàn Kiếm")


@pytest.fixture
def member(merchant):
    return MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")


@pytest.fixture
def pos(merchant, store):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


@pytest.fixture
def other_store(other_merchant):
    return StoreFactory(merchant=other_merchant, code="hoan-kiem", name="Other")


@pytest.fixture
def other_pos(other_merchant, other_store):
    return Pos(create_api_key(merchant=other_merchant, name="POS B", store=other_store).raw_key)
