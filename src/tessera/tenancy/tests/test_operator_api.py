"""Issue 17, operators: a hosting company onboards a merchant by script — an operator key (made by
`tessera create_operator_key`, shown once) creates the merchant, its store and its first admin key;
operator keys and merchant keys are each refused (403) on the other's endpoints; an operator's
Idempotency-Key is its own, apart from every merchant's."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.test import Client

from tessera.core.models import IdempotencyRecord
from tessera.tenancy.models import ApiKey, Merchant, OperatorKey, Role, Scope, Store
from tessera.tenancy.roles import default_roles
from tessera.tenancy.services import create_api_key, create_operator_key

pytestmark = pytest.mark.django_db

MERCHANT = {
    "name": "Bún Chả 36",
    "slug": "bun-cha-36",
    "currency": "VND",
    "time_zone": "Asia/Ho_Chi_Minh",
    "default_language": "vi",
}


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
def operator() -> Client:
    return _client(create_operator_key(name="Provisioning").raw_key)


def test_command_prints_an_operator_key_once_and_keeps_only_its_hash():
    out, err = io.StringIO(), io.StringIO()

    call_command("create_operator_key", "Provisioning", stdout=out, stderr=err)

    raw = out.getvalue().strip()
    key = OperatorKey.objects.get()
    assert raw.startswith(f"tso_{key.prefix}_") and "shown once" in err.getvalue()
    assert raw.split("_", 2)[2] not in key.hashed_secret
    assert _client(raw).get("/api/v1/operator/merchants").status_code == 200
    call_command("revoke_operator_key", key.prefix, stdout=io.StringIO())
    assert _client(raw).get("/api/v1/operator/merchants").status_code == 401


def test_operator_onboards_a_merchant_that_then_works_with_its_own_admin_key(operator):
    created = _post(operator, "/operator/merchants", MERCHANT)
    assert created.status_code == 201, created.content
    merchant = Merchant.objects.get(pk=created.json()["id"])
    assert (merchant.slug, merchant.currency, merchant.default_language) == ("bun-cha-36", "VND", "vi")
    # The default roles, as a merchant made in the back office has.
    assert set(Role.objects.of(merchant).values_list("key", flat=True)) == set(default_roles())

    store = _post(operator, f"/operator/merchants/{merchant.pk}/stores", {"code": "hk", "name": "Hoàn Kiếm"})
    assert store.status_code == 201, store.content
    assert Store.objects.of(merchant).get().code == "hk"

    issued = _post(operator, f"/operator/merchants/{merchant.pk}/keys", {"name": "Admin", "scope": "admin"})
    assert issued.status_code == 201, issued.content
    admin = _client(issued.json()["key"])
    till = _post(admin, "/keys", {"name": "Till", "scope": "pos", "store_code": "hk"})
    assert till.status_code == 201 and ApiKey.objects.get(pk=till.json()["id"]).merchant == merchant
    assert [m["slug"] for m in operator.get("/api/v1/operator/merchants").json()] == ["bun-cha-36"]
    assert operator.get(f"/api/v1/operator/merchants/{merchant.pk}").json()["name"] == "Bún Chả 36"


def test_operator_posts_are_idempotent_with_records_of_the_operator(operator, merchant):
    first = _post(operator, "/operator/merchants", MERCHANT, key="onboard-36")
    again = _post(operator, "/operator/merchants", MERCHANT, key="onboard-36")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Merchant.objects.filter(slug="bun-cha-36").count() == 1
    record = IdempotencyRecord.objects.get(key="onboard-36")
    assert record.merchant_id is None and record.operator_key is not None
    # The same Idempotency-Key of a merchant is another record: the two never meet.
    admin = _client(create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN).raw_key)
    assert _post(admin, "/keys", {"name": "Till", "scope": "pos"}, key="onboard-36").status_code == 201
    reused = _post(operator, "/operator/merchants", {**MERCHANT, "slug": "other"}, key="onboard-36")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"


def test_invalid_merchant_and_taken_slug_are_problems_not_errors(operator, merchant):
    wrong_zone = _post(operator, "/operator/merchants", {**MERCHANT, "time_zone": "Mars/Olympus"})
    taken = _post(operator, "/operator/merchants", {**MERCHANT, "slug": merchant.slug})

    for response in (wrong_zone, taken):
        assert response.status_code == 422 and response.json()["code"] == "invalid_merchant"
        assert response["Content-Type"] == "application/problem+json"
    assert "time_zone" in wrong_zone.json()["errors"] and "slug" in taken.json()["errors"]


def test_unknown_merchant_is_not_found(operator):
    for response in (
        operator.get("/api/v1/operator/merchants/999999"),
        _post(operator, "/operator/merchants/999999/stores", {"code": "x", "name": "X"}),
        _post(operator, "/operator/merchants/999999/keys", {"name": "Admin", "scope": "admin"}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "merchant_not_found"


@pytest.mark.parametrize("scope", list(Scope))
def test_merchant_keys_are_refused_on_operator_endpoints(merchant, scope):
    store = Store.objects.create(merchant=merchant, code="q1", name="Q1")
    bound = None if scope in (Scope.ADMIN, Scope.ADMIN_READ) else store
    client = _client(create_api_key(merchant=merchant, name="k", store=bound, scope=scope).raw_key)

    for response in (
        client.get("/api/v1/operator/merchants"),
        _post(client, "/operator/merchants", MERCHANT),
        _post(client, f"/operator/merchants/{merchant.pk}/keys", {"name": "Admin", "scope": "admin"}),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "insufficient_scope"
        assert response.json()["accepted_scopes"] == ["operator"]
    assert Merchant.objects.count() == 1 and ApiKey.objects.count() == 1


def test_operator_key_is_refused_on_merchant_endpoints(operator):
    for response in (
        operator.get("/api/v1/keys"),
        operator.get("/api/v1/tiers"),
        _post(operator, "/keys", {"name": "Till", "scope": "pos"}),
        _post(operator, "/points/add", {}),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "insufficient_scope" and response.json()["scope"] == "operator"
