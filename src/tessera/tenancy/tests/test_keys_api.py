"""Issue 17, keys: a merchant's admin key lists, creates (shown once) and revokes the merchant's API keys
through `/api/v1/keys`; other scopes get 403, another merchant's key ids 404, and a revoked key is
refused from its very next request."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from tests.factories import StoreFactory

from tessera.core.models import IdempotencyRecord
from tessera.tenancy.models import ApiKey, Scope
from tessera.tenancy.services import create_api_key, revoke_api_key

pytestmark = pytest.mark.django_db


def _client(raw_key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _post(client: Client, path: str, body: dict[str, object] | None = None, *, key: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1{path}",
        body or {},
        content_type="application/json",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


@pytest.fixture
def store(merchant):  # type: ignore[no-untyped-def]
    return StoreFactory(merchant=merchant, code="q1")


@pytest.fixture
def admin(merchant) -> Client:  # type: ignore[no-untyped-def]
    return _client(create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN).raw_key)


def test_admin_key_creates_a_till_key_shown_once_that_works_at_once(admin, merchant, store):
    response = _post(admin, "/keys", {"name": "Till 2", "scope": "pos", "store_code": "q1"}, key="k-1")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["scope"] == "pos" and created["store_code"] == "q1" and created["active"] is True
    raw = created["key"]
    assert raw.startswith(f"tsk_{created['prefix']}_")
    key = ApiKey.objects.get(pk=created["id"])
    assert key.merchant == merchant and key.store == store and raw.split("_", 2)[2] not in key.hashed_secret
    assert response["Cache-Control"] == "no-store"
    assert _client(raw).get("/api/v1/lookup?phone=0903000000").status_code in (200, 404)
    # The secret is nowhere but in that first answer: not in the stored answer, not in a replay.
    assert raw not in IdempotencyRecord.objects.get(key="k-1").response_body
    replay = _post(admin, "/keys", {"name": "Till 2", "scope": "pos", "store_code": "q1"}, key="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["key"] is None and replay.json()["id"] == created["id"]
    assert ApiKey.objects.of(merchant).filter(name="Till 2").count() == 1


def test_list_shows_every_key_with_its_last_use_and_get_shows_one(admin, merchant, store):
    till = create_api_key(merchant=merchant, name="Till", store=store)
    _client(till.raw_key).get("/api/v1/tiers")
    revoked = create_api_key(merchant=merchant, name="Old till", store=store).key
    revoke_api_key(key=revoked)

    listed = {k["name"]: k for k in admin.get("/api/v1/keys").json()}

    assert set(listed) == {"Admin", "Till", "Old till"}
    assert listed["Till"]["last_used_at"] is not None and listed["Till"]["store_code"] == "q1"
    assert listed["Old till"]["active"] is False and listed["Old till"]["revoked_at"] is not None
    assert all("key" not in k and "hashed_secret" not in k for k in listed.values())
    one = admin.get(f"/api/v1/keys/{till.key.pk}")
    assert one.status_code == 200 and one.json()["prefix"] == till.key.prefix


def test_revoked_key_is_refused_from_its_next_request(admin, merchant, store):
    till = create_api_key(merchant=merchant, name="Till", store=store)
    till_client = _client(till.raw_key)
    assert till_client.get("/api/v1/tiers").status_code == 200

    response = _post(admin, f"/keys/{till.key.pk}/revoke")

    assert response.status_code == 200 and response.json()["active"] is False
    refused = till_client.get("/api/v1/tiers")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    again = _post(admin, f"/keys/{till.key.pk}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == response.json()["revoked_at"]


@pytest.mark.parametrize(
    "scope", [Scope.POS, Scope.POS_READ, Scope.INTEGRATION, Scope.INTEGRATION_READ, Scope.ADMIN_READ]
)
def test_keys_without_the_admin_scope_cannot_manage_keys(merchant, store, scope):
    bound = None if scope == Scope.ADMIN_READ else store
    client = _client(create_api_key(merchant=merchant, name="k", store=bound, scope=scope).raw_key)
    target = create_api_key(merchant=merchant, name="Till", store=store).key

    for response in (
        _post(client, "/keys", {"name": "Mine now", "scope": "admin"}),
        _post(client, f"/keys/{target.pk}/revoke"),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "insufficient_scope"
    assert ApiKey.objects.of(merchant).count() == 2
    assert ApiKey.objects.get(pk=target.pk).is_active
    reads = client.get("/api/v1/keys")
    assert reads.status_code == (200 if scope == Scope.ADMIN_READ else 403)


def test_another_merchants_key_ids_are_not_found(admin, other_merchant):
    theirs = create_api_key(merchant=other_merchant, name="Their admin", scope=Scope.ADMIN).key

    for response in (admin.get(f"/api/v1/keys/{theirs.pk}"), _post(admin, f"/keys/{theirs.pk}/revoke")):
        assert response.status_code == 404 and response.json()["code"] == "key_not_found"
    assert ApiKey.objects.get(pk=theirs.pk).is_active
    assert [k["name"] for k in admin.get("/api/v1/keys").json()] == ["Admin"]


def test_store_of_another_merchant_cannot_bind_a_key(admin, other_merchant):
    StoreFactory(merchant=other_merchant, code="theirs")

    response = _post(admin, "/keys", {"name": "Till", "scope": "pos", "store_code": "theirs"})

    assert response.status_code == 404 and response.json()["code"] == "store_not_found"


def test_admin_key_is_never_bound_to_a_store(admin, store):
    response = _post(admin, "/keys", {"name": "Store admin", "scope": "admin", "store_code": "q1"})

    assert response.status_code == 422 and response.json()["code"] == "admin_key_store_bound"
    assert response["Content-Type"] == "application/problem+json"
