"""Keys have scopes (issue 13): each router names the scopes it accepts, a key without one gets 403
`insufficient_scope` (problem+json) before anything runs, a read-only key may send GET requests only,
and every key made before scopes (a store-bound till, `pos`; a merchant-wide integration,
`integration`) still reaches every endpoint it reached before."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client, RequestFactory

from tessera.api import api
from tessera.core.models import IdempotencyRecord
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, InsufficientScope, OperatorKeyAuth
from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

#: One request that changes something, per router (the body need not be valid: scopes come first).
CHANGES = {
    "pos": ("post", "/points/add"),
    "members": ("post", "/members"),
    "members (PATCH)": ("patch", "/members/{member}"),
    "cards": ("post", "/cards/8800000000017/activate"),
    "rules": ("post", "/rules/simulate"),
    "rewards": ("post", "/rewards/promo-codes/validate"),
    "events": ("post", "/events"),
    "integrations": ("post", "/integrations/customers"),
    "marketing": ("post", "/marketing/messages"),
}

#: One read per router that has reads, and the answer it gives once the key is let in.
READS = {
    "pos": ("/lookup?phone=0903123456", 200),
    "members": ("/members/{member}", 200),
    "cards": ("/cards/8800000000017", 404),  # card_not_found: past the key, into the endpoint
    "tiers": ("/tiers", 200),
    "rewards": ("/rewards/gifts", 200),
    "marketing": ("/marketing/messages/1", 404),
    "reports": ("/reports/sales", 200),
}


@pytest.fixture
def store(merchant):  # type: ignore[no-untyped-def]
    return StoreFactory(merchant=merchant, code="q1")


@pytest.fixture
def member(merchant):  # type: ignore[no-untyped-def]
    return MemberFactory(merchant=merchant, phone="+84903123456")


def _client(merchant, store, scope: Scope) -> Client:  # type: ignore[no-untyped-def]
    bound = None if scope in (Scope.ADMIN, Scope.ADMIN_READ) else store
    raw = create_api_key(merchant=merchant, name=str(scope), store=bound, scope=scope).raw_key
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


@pytest.mark.parametrize("scope", [Scope.POS_READ, Scope.INTEGRATION_READ, Scope.ADMIN_READ])
@pytest.mark.parametrize("router", CHANGES)
def test_a_read_only_key_is_refused_every_change_with_insufficient_scope(
    router, scope, merchant, store, member
):  # type: ignore[no-untyped-def]
    method, path = CHANGES[router]

    response = getattr(_client(merchant, store, scope), method)(
        "/api/v1" + path.format(member=member.pk), {}, content_type="application/json"
    )

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["scope"]) == ("insufficient_scope", scope.value)
    assert body["accepted_scopes"] == ["admin", "integration", "pos"]
    assert not IdempotencyRecord.objects.exists()  # refused before it ran: the key stays unused


@pytest.mark.parametrize("scope", [Scope.POS_READ, Scope.INTEGRATION_READ, Scope.ADMIN_READ])
@pytest.mark.parametrize("router", READS)
def test_a_read_only_key_reads(router, scope, merchant, store, member):  # type: ignore[no-untyped-def]
    path, status = READS[router]

    response = _client(merchant, store, scope).get("/api/v1" + path.format(member=member.pk))

    assert response.status_code == status, response.content


@pytest.mark.parametrize("scope", [Scope.POS, Scope.INTEGRATION, Scope.ADMIN])
@pytest.mark.parametrize("router", READS)
def test_every_full_scope_reads_every_router(router, scope, merchant, store, member):  # type: ignore[no-untyped-def]
    path, status = READS[router]

    response = _client(merchant, store, scope).get("/api/v1" + path.format(member=member.pk))

    assert response.status_code == status, response.content


@pytest.mark.parametrize("scope", [Scope.POS, Scope.INTEGRATION, Scope.ADMIN])
def test_a_full_scope_changes(scope, merchant, store, member):  # type: ignore[no-untyped-def]
    response = _client(merchant, store, scope).post(
        "/api/v1/points/add",
        {"phone": "0903123456", "points": 5, "store_code": "q1"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["points_balance"] == 5


def _operations():  # type: ignore[no-untyped-def]
    api.urls  # noqa: B018 -- binds the routers, which gives each operation its router's auth
    for router in api._get_bound_routers():
        for path, view in router.path_operations.items():
            for operation in view.operations:
                yield f"{router.prefix}{path}", operation


#: The management API (issue 17), made after scopes: the merchant's keys for `admin` keys only, the
#: platform's endpoints for operator keys only.
MANAGEMENT = {"/keys": ApiKeyAuth(Scope.ADMIN), "/operator": OperatorKeyAuth()}


def test_every_endpoint_names_its_scopes_and_takes_todays_keys():
    """A router that names no scopes falls back to the API's default, which refuses every key; today's
    keys, `pos` (store-bound) and `integration` (merchant-wide), reach every endpoint as before. The
    management API's configuration endpoints (issue 17) take `admin` keys only."""
    operations = list(_operations())

    assert len(operations) > 30
    for path, operation in operations:
        (auth,) = operation.auth_callbacks
        management = next((a for prefix, a in MANAGEMENT.items() if path.startswith(prefix)), None)
        if management is not None:
            assert type(auth) is type(management) and auth.scopes == management.scopes, path
            continue
        assert isinstance(auth, ApiKeyAuth), path
        if auth.scopes == {Scope.ADMIN}:
            continue
        assert {Scope.POS, Scope.INTEGRATION} <= auth.scopes, path
        for method in operation.methods:
            auth.check_scope(Scope.POS, method=method)
            auth.check_scope(Scope.INTEGRATION, method=method)


def test_a_scope_a_router_does_not_name_is_refused(merchant, store):  # type: ignore[no-untyped-def]
    management = ApiKeyAuth(Scope.ADMIN)
    till = create_api_key(merchant=merchant, name="Till", store=store).raw_key
    admin = create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN_READ).raw_key

    with pytest.raises(InsufficientScope) as refused:
        management(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {till}"))
    with pytest.raises(InsufficientScope):
        ApiKeyAuth()(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {till}"))
    context = management(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {admin}"))

    assert (refused.value.status, refused.value.detail) == (
        403,
        {"scope": "pos", "accepted_scopes": ["admin"]},
    )
    assert isinstance(context, ApiContext)
    assert (context.merchant, context.store, context.scope) == (merchant, None, Scope.ADMIN_READ)


def test_the_openapi_document_names_each_operations_scopes():
    paths = api.get_openapi_schema()["paths"]

    assert paths["/api/v1/lookup"]["get"]["security"] == [
        {"ApiKeyAuth": ["admin", "admin:read", "integration", "integration:read", "pos", "pos:read"]}
    ]
    assert paths["/api/v1/quote"]["post"]["security"] == [{"ApiKeyAuth": ["admin", "integration", "pos"]}]
