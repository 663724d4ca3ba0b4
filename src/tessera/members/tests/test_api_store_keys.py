"""A store-bound key registers members in its own store (docs/pos-api.md, A2, issue 12): naming another
store's `home_store_id` is refused, its own store or none is fine; a merchant-wide key names any."""

from __future__ import annotations

from uuid import uuid4

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.members.models import Member
from tessera.rewards.tests.factories import GiftFactory
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores(merchant):
    return StoreFactory(merchant=merchant, name="Hoàn Kiếm"), StoreFactory(merchant=merchant, name="Quận 1")


def _post(client, key, body, path="/api/v1/members"):
    return client.post(
        path,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )


def test_a_store_key_registering_a_member_in_another_store_is_refused(client, merchant, stores):
    own, other = stores
    till = create_api_key(merchant=merchant, name="Till", store=own).raw_key

    response = _post(client, till, {"phone": "0903123456", "home_store_id": other.pk})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "store_mismatch"
    assert not Member.objects.of(merchant).exists()


def test_a_store_key_naming_another_merchants_or_no_such_store_gets_the_same_refusal(
    client, merchant, other_merchant, stores
):
    till = create_api_key(merchant=merchant, name="Till", store=stores[0]).raw_key
    foreign = StoreFactory(merchant=other_merchant)

    answers = [
        _post(client, till, {"phone": "0903123456", "home_store_id": store_id}).json()["code"]
        for store_id in (foreign.pk, 999_999)
    ]

    assert answers == ["store_mismatch", "store_mismatch"]


@pytest.mark.parametrize("sent", ["own", "none", "absent"])
def test_a_store_key_registers_members_in_its_own_store(client, merchant, stores, sent):
    own, _other = stores
    till = create_api_key(merchant=merchant, name="Till", store=own).raw_key
    body: dict[str, object] = {"phone": "0903123456"}
    if sent != "absent":
        body["home_store_id"] = own.pk if sent == "own" else None

    response = _post(client, till, body)

    assert response.status_code == 201, response.content
    assert response.json()["home_store_id"] == own.pk
    assert Member.objects.of(merchant).get().home_store == own


def test_a_merchant_wide_key_registers_members_in_any_of_its_stores(client, merchant, stores):
    _own, other = stores
    shop = create_api_key(merchant=merchant, name="Shop").raw_key

    response = _post(client, shop, {"phone": "0903123456", "home_store_id": other.pk})

    assert response.status_code == 201
    assert Member.objects.of(merchant).get().home_store == other


def test_a_store_key_cannot_move_a_member_to_another_store(client, merchant, stores):
    own, other = stores
    till = create_api_key(merchant=merchant, name="Till", store=own).raw_key
    member = MemberFactory(merchant=merchant, home_store=own)

    moved = client.patch(
        f"/api/v1/members/{member.pk}",
        {"home_store_id": other.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {till}",
    )
    kept = client.patch(
        f"/api/v1/members/{member.pk}",
        {"home_store_id": own.pk, "notes": "Regular"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {till}",
    )

    assert (moved.status_code, moved.json()["code"]) == (403, "store_mismatch")
    assert kept.status_code == 200
    member.refresh_from_db()
    assert (member.home_store, member.notes) == (own, "Regular")


@pytest.mark.parametrize("path", ["/api/v1/rules/simulate", "/api/v1/rewards/gift-redemptions"])
def test_other_endpoints_naming_another_store_with_a_store_key_are_refused(client, merchant, stores, path):
    """Every body that names a store (`store_code`) follows the same rule as sales (docs/pos-api.md)."""
    own, other = stores
    till = create_api_key(merchant=merchant, name="Till", store=own).raw_key
    MemberFactory(merchant=merchant, phone="+84903123456")
    gift = GiftFactory(merchant=merchant)
    body = {"phone": "0903123456", "store_code": other.code, "amount": 100_000, "gift_id": gift.pk}

    response = _post(client, till, body, path)

    assert (response.status_code, response.json()["code"]) == (403, "store_mismatch")
