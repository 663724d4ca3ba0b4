"""Fixtures for the sales tests: a store, a member with a PIN and a card, POS clients."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from tests.factories import MemberFactory, StoreFactory

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.members.services import set_member_pin
from tessera.points.policy import policy_of
from tessera.sales.models import SalesSettings
from tessera.tenancy.services import create_api_key

PIN = "2468"


class Pos:
    """A POS terminal talking to /api/v1/ with its API key; every POST gets a fresh Idempotency-Key."""

    def __init__(self, raw_key: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1{path}", params or {})

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = "new") -> Any:
        headers = {} if key is None else {"Idempotency-Key": uuid.uuid4().hex if key == "new" else key}
        return self.client.post(
            f"/api/v1{path}", body or {}, content_type="application/json", headers=headers
        )


def active_card(member, *, kind: str = "points") -> Card:
    card_type = CardTypeFactory(
        merchant=member.merchant, kind=kind, number_prefix="88" if kind == "points" else "97"
    )
    batch = cards.generate_batch(merchant=member.merchant, card_type=card_type, quantity=1)
    card = Card.objects.get(batch=batch)
    return cards.activate_card(card=card, phone=str(member.phone))


@pytest.fixture
def rules(merchant):
    """VND: 1 point per 10,000 đồng, a point worth 100 đồng, no pending window, 12 months validity."""
    rules = SalesSettings.for_merchant(merchant)
    policy = policy_of(merchant)
    assert (policy.earn_per_amount, policy.point_value, policy.pending_days) == (10000, 100, 0)
    return rules


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="hoan-kiem", name="Hoàn Kiếm")


@pytest.fixture
def store2(merchant):
    return StoreFactory(merchant=merchant, code="ba-dinh", name="Ba Đình")


@pytest.fixture
def member(merchant, rules):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")
    set_member_pin(member=member, pin=PIN)
    return member


@pytest.fixture
def pos(merchant, store):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


@pytest.fixture
def other_pos(other_merchant):
    """The POS of another merchant, with a store of its own."""
    other_store = StoreFactory(merchant=other_merchant, code="hoan-kiem", name="Other")
    return Pos(create_api_key(merchant=other_merchant, name="POS B", store=other_store).raw_key)
