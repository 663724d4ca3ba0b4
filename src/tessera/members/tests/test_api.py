"""The members API: lookup, read, register, edit (C1, C2), never across merchants (A1)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from tests.factories import MemberFactory, StoreFactory

from tessera.members.models import Member, MemberStatus
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, name="Hoàn Kiếm")


@pytest.fixture
def api(client, merchant, store):
    """A test client speaking for the merchant's POS at `store`; each POST gets a fresh Idempotency-Key."""
    raw = create_api_key(merchant=merchant, name="POS 1", store=store).raw_key
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    post = client.post

    def post_with_key(path, data=None, **extra):
        extra.setdefault("HTTP_IDEMPOTENCY_KEY", uuid4().hex)
        return post(path, data, **extra)

    client.post = post_with_key
    return client


def test_lookup_by_phone_accepts_local_formats(api, merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456", full_name="Nguyễn Văn An")

    response = api.get("/api/v1/members", {"phone": "0903 123 456"})

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["phone"], body["full_name"], body["status"]) == (
        member.pk,
        "+84903123456",
        "Nguyễn Văn An",
        "active",
    )


def test_lookup_of_an_unknown_phone_is_a_404_problem(api):
    response = api.get("/api/v1/members", {"phone": "0903123456"})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "member_not_found"


def test_get_member_shows_preferences_and_tags(api, merchant):
    member = MemberFactory(merchant=merchant, preferences="No ice", tags=["VIP"])

    body = api.get(f"/api/v1/members/{member.pk}").json()

    assert body["preferences"] == "No ice"
    assert body["tags"] == ["VIP"]
    assert body["is_current"] is True
    assert body["has_pin"] is False


def test_register_member_at_the_keys_store(api, merchant, store):
    response = api.post(
        "/api/v1/members",
        {"phone": "090-312-3456", "full_name": "Trần Bình", "tags": ["New"], "birthday": "1990-02-03"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    member = Member.objects.of(merchant).get(pk=response.json()["id"])
    assert str(member.phone) == "+84903123456"
    assert member.home_store == store
    assert member.status == MemberStatus.ACTIVE
    assert response.json()["tags"] == ["New"]


def test_register_retried_with_its_idempotency_key_creates_one_member(api, merchant):
    """E11: a POS that retries after a timeout registers the member once and gets the same answer."""
    body = {"phone": "0903123456", "full_name": "Trần Bình"}

    first = api.post("/api/v1/members", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="reg-1")
    retry = api.post("/api/v1/members", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="reg-1")
    missing = api.post("/api/v1/members", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert Member.objects.of(merchant).count() == 1
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")


def test_register_waits_for_activation_when_the_merchant_activates_by_hand(api, merchant):
    merchant.auto_activate_members = False
    merchant.save()

    response = api.post("/api/v1/members", {"phone": "0903123456"}, content_type="application/json")

    assert response.json()["status"] == "not_activated"


def test_register_a_taken_phone_is_a_409_and_a_bad_phone_a_422(api, merchant):
    MemberFactory(merchant=merchant, phone="+84903123456")

    taken = api.post("/api/v1/members", {"phone": "0903123456"}, content_type="application/json")
    bad = api.post("/api/v1/members", {"phone": "12"}, content_type="application/json")

    assert (taken.status_code, taken.json()["code"]) == (409, "phone_taken")
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_phone")
    assert Member.objects.of(merchant).count() == 1


def test_register_refuses_another_merchants_store(client, merchant, other_merchant):
    foreign = StoreFactory(merchant=other_merchant)
    merchant_wide = create_api_key(merchant=merchant, name="Shop").raw_key

    response = client.post(
        "/api/v1/members",
        {"phone": "0903123456", "home_store_id": foreign.pk},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {merchant_wide}",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )

    assert (response.status_code, response.json()["code"]) == (422, "unknown_store")


def test_patch_changes_only_the_fields_sent(api, merchant):
    member = MemberFactory(merchant=merchant, full_name="Lê Minh", notes="Keep me", tags=["VIP"])

    response = api.patch(
        f"/api/v1/members/{member.pk}",
        {"preferences": "Wheelchair access", "tags": ["Regular"]},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert (member.full_name, member.notes, member.preferences) == ("Lê Minh", "Keep me", "Wheelchair access")
    assert response.json()["tags"] == ["Regular"]


def test_patch_cannot_change_the_phone(api, merchant):
    member = MemberFactory(merchant=merchant, phone="+84903123456")

    response = api.patch(
        f"/api/v1/members/{member.pk}", {"phone": "0911222333"}, content_type="application/json"
    )

    assert (response.status_code, response.json()["code"]) == (422, "phone_not_changeable")
    member.refresh_from_db()
    assert str(member.phone) == "+84903123456"


def test_another_merchants_member_is_a_404_on_every_endpoint(api, other_merchant):
    foreign = MemberFactory(merchant=other_merchant, phone="+84903123456", full_name="Secret")

    responses = [
        api.get(f"/api/v1/members/{foreign.pk}"),
        api.patch(f"/api/v1/members/{foreign.pk}", {"full_name": "Hacked"}, content_type="application/json"),
        api.get("/api/v1/members", {"phone": "0903123456"}),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all(r["Content-Type"] == "application/problem+json" for r in responses)
    foreign.refresh_from_db()
    assert foreign.full_name == "Secret"


def test_members_api_needs_a_key(client, merchant):
    member = MemberFactory(merchant=merchant)
    assert client.get(f"/api/v1/members/{member.pk}").status_code == 401
