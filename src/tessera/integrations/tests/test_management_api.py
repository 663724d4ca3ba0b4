"""Issue 17: shop connections and outbound webhook endpoints through the management API — the back
office's forms and services, secrets shown once, a test delivery to a real receiver and the delivery log,
ETag / If-Match on updates, `admin` scope only, another merchant's ids 404."""

from __future__ import annotations

import json

import pytest
from tests.factories import StoreFactory
from tests.management_api import KeyClient

from tessera.integrations import services
from tessera.integrations.models import Connection, WebhookDelivery, WebhookEndpoint
from tessera.integrations.tests.test_outbound import verify
from tessera.tenancy.history import key_label
from tessera.tenancy.models import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(merchant):
    return KeyClient(merchant)


def test_an_endpoint_is_created_with_its_secret_shown_once_and_tested_K2(admin, merchant, receiver):
    created = admin.post(
        "/webhook-endpoints", {"url": receiver.url, "description": "CRM", "event_types": ["sale.confirmed"]}
    )

    assert created.status_code == 201, created.content
    body = created.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert (body["url"], body["event_types"], body["is_active"]) == (receiver.url, ["sale.confirmed"], True)
    read = admin.get(f"/webhook-endpoints/{endpoint.pk}").json()
    assert "secret" not in read and "secret" not in admin.get("/webhook-endpoints").json()["items"][0]

    tested = admin.post(f"/webhook-endpoints/{endpoint.pk}/test")

    assert tested.status_code == 200, tested.content
    delivery = tested.json()
    assert (delivery["event_type"], delivery["status"], delivery["last_response_code"]) == (
        services.TEST_EVENT,
        "delivered",
        200,
    )
    [(headers, raw)] = receiver.requests
    assert verify(body["secret"], headers, raw)
    assert json.loads(raw)["type"] == services.TEST_EVENT
    log = admin.get(f"/webhook-endpoints/{endpoint.pk}/deliveries").json()
    assert log["count"] == 1 and log["items"][0]["id"] == delivery["id"]


def test_a_failing_receiver_is_reported_by_the_test_delivery(admin, merchant, receiver):
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url).obj
    receiver.statuses = [500]

    tested = admin.post(f"/webhook-endpoints/{endpoint.pk}/test").json()

    assert (tested["status"], tested["last_response_code"], tested["last_error"]) == (
        "retrying",
        500,
        "HTTP 500",
    )


def test_rotating_the_secret_shows_the_new_one_once_and_signs_with_it(admin, merchant, receiver):
    issued = services.create_endpoint(merchant=merchant, url=receiver.url)

    rotated = admin.post(f"/webhook-endpoints/{issued.obj.pk}/rotate-secret")

    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != issued.secret and WebhookEndpoint.objects.get().secret == new
    admin.post(f"/webhook-endpoints/{issued.obj.pk}/test")
    [(headers, raw)] = receiver.requests
    assert verify(new, headers, raw)
    assert not verify(issued.secret, headers, raw)


def test_an_endpoint_update_needs_if_match_and_uses_the_back_offices_checks(admin, merchant):
    endpoint = services.create_endpoint(merchant=merchant, url="https://example.com/hook").obj
    path = f"/webhook-endpoints/{endpoint.pk}"
    tag = admin.get(path)["ETag"]

    assert admin.patch(path, {"is_active": False}).status_code == 428
    bad = admin.patch(path, {"event_types": ["no.such.event"], "url": "ftp://x"}, if_match=tag)
    archived = admin.patch(path, {"is_active": False, "description": "old"}, if_match=tag)
    stale = admin.patch(path, {"is_active": True}, if_match=tag)

    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {("body", "event_types"), ("body", "url")}
    assert archived.status_code == 200 and archived.json()["is_active"] is False
    assert stale.status_code == 412
    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.description) == (False, "old")


def test_a_private_address_is_refused_as_in_the_back_office(admin):
    response = admin.post("/webhook-endpoints", {"url": "https://127.0.0.1/hook"})

    assert (response.status_code, response.json()["code"]) == (422, "address_not_public")
    assert not WebhookEndpoint.objects.exists()


def test_a_shop_connection_is_made_with_its_secret_once_and_changed_with_if_match_K1(admin, merchant):
    store = StoreFactory(merchant=merchant, code="online")
    other_store = StoreFactory(merchant=merchant, code="q1")

    created = admin.post(
        "/shop-connections", {"platform": "haravan", "name": "Haravan", "store_id": store.pk}
    )

    assert created.status_code == 201, created.content
    body = created.json()
    connection = Connection.objects.get(pk=body["id"])
    assert body["secret"] == connection.secret and body["hook_url"].endswith(f"/hooks/{connection.token}/")
    path = f"/shop-connections/{connection.pk}"
    read = admin.get(path)
    assert "secret" not in read.json()
    moved = admin.patch(path, {"store_id": other_store.pk, "name": "Haravan shop"}, if_match=read["ETag"])
    assert moved.status_code == 200 and moved.json()["store_id"] == other_store.pk
    assert admin.patch(path, {"is_active": False}, if_match=read["ETag"]).status_code == 412
    connection.refresh_from_db()
    assert (connection.name, connection.store_id, connection.is_active) == (
        "Haravan shop",
        other_store.pk,
        True,
    )


def test_a_connection_for_another_merchants_store_is_refused(admin, other_merchant):
    foreign = StoreFactory(merchant=other_merchant, code="x")

    response = admin.post("/shop-connections", {"platform": "shopify", "name": "S", "store_id": foreign.pk})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "store"]
    assert not Connection.objects.exists()


def _id_paths(endpoint: WebhookEndpoint, connection: Connection) -> list[tuple[str, str]]:
    return [
        ("get", f"/webhook-endpoints/{endpoint.pk}"),
        ("patch", f"/webhook-endpoints/{endpoint.pk}"),
        ("post", f"/webhook-endpoints/{endpoint.pk}/rotate-secret"),
        ("post", f"/webhook-endpoints/{endpoint.pk}/test"),
        ("get", f"/webhook-endpoints/{endpoint.pk}/deliveries"),
        ("get", f"/shop-connections/{connection.pk}"),
        ("patch", f"/shop-connections/{connection.pk}"),
    ]


def _call(client: KeyClient, method: str, path: str):
    if method == "patch":
        return client.patch(path, {"is_active": False}, if_match="*")
    return getattr(client, method)(path)


def test_other_merchants_get_404_and_keys_without_admin_get_403(merchant, other_merchant):
    store = StoreFactory(merchant=merchant, code="online")
    endpoint = services.create_endpoint(merchant=merchant, url="https://example.com/hook").obj
    connection = services.create_connection(merchant=merchant, platform="shopify", name="S", store=store).obj
    stranger = KeyClient(other_merchant)
    till = KeyClient(merchant, Scope.POS, store=store)
    integration = KeyClient(merchant, Scope.INTEGRATION)
    reader = KeyClient(merchant, Scope.ADMIN_READ)

    for method, path in _id_paths(endpoint, connection):
        assert _call(stranger, method, path).status_code == 404, path
        for client in (till, integration):
            assert _call(client, method, path).json()["code"] == "insufficient_scope", path
        assert _call(reader, method, path).status_code == (200 if method == "get" else 403), path
    for path in ("/webhook-endpoints", "/shop-connections"):
        assert till.post(path, {}).status_code == 403
    endpoint.refresh_from_db()
    connection.refresh_from_db()
    assert endpoint.is_active and connection.is_active
    assert not WebhookDelivery.objects.exists()


def test_connection_and_endpoint_changes_by_key_are_in_their_history_without_secrets(
    admin, merchant, receiver
):
    """Issue 17: shop connections and webhook endpoints keep the same history as other configuration —
    each change by API names the key — and never hold a secret in it."""
    store = StoreFactory(merchant=merchant, code="online")
    created = admin.post(
        "/shop-connections", {"platform": "haravan", "name": "Haravan", "store_id": store.pk}
    )
    path = f"/shop-connections/{created.json()['id']}"
    admin.patch(path, {"name": "Haravan shop"}, if_match=admin.get(path)["ETag"])
    endpoint = admin.post("/webhook-endpoints", {"url": receiver.url, "is_active": False}).json()
    admin.post(f"/webhook-endpoints/{endpoint['id']}/rotate-secret")

    connection = Connection.objects.get()
    rows = connection.history.order_by("history_id")
    assert [(h.history_type, h.name, h.history_change_reason) for h in rows] == [
        ("+", "Haravan", key_label(admin.key)),
        ("~", "Haravan shop", key_label(admin.key)),
    ]
    webhook = WebhookEndpoint.objects.get()
    assert [(h.history_type, h.is_active) for h in webhook.history.order_by("history_id")] == [
        ("+", True),
        ("~", False),
        ("~", False),
    ]
    assert {h.history_change_reason for h in webhook.history.all()} == {key_label(admin.key)}
    for model in (connection.history.model, webhook.history.model):
        assert "secret" not in {f.name for f in model._meta.fields}
