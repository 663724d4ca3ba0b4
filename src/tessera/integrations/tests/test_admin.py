"""Back office for integrations (K1, K2): secrets shown once, deliveries with replay and resend, and
nothing of another merchant's (B1, B2)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from tests.factories import StoreFactory, staff_user

from tessera.integrations import services
from tessera.integrations.models import (
    Connection,
    DeliveryStatus,
    InboundDelivery,
    Outcome,
    Platform,
    WebhookDelivery,
    WebhookEndpoint,
)
from tessera.integrations.tests.conftest import payload
from tessera.integrations.tests.test_outbound import verify
from tessera.members.models import Member
from tessera.members.services import activate_member
from tessera.tenancy.models import Merchant
from tessera.tenancy.services import update_merchant

pytestmark = pytest.mark.django_db


def admin_of(client, merchant):
    client.force_login(staff_user(merchant, "merchant_admin").user)
    return client


def test_k1_creating_a_connection_shows_its_secret_and_address_once(client, merchant, online_store):
    admin_of(client, merchant)

    created = client.post(
        reverse("admin:integrations_connection_add"),
        {
            "platform": "shopify",
            "name": "Shopify",
            "store": online_store.pk,
            "signing_secret": "shpss_0123456789",
        },
    )

    connection = Connection.objects.get()
    page = created.content.decode()
    assert created.status_code == 200 and "shpss_0123456789" in page and str(connection.token) in page
    assert (connection.merchant, connection.secret) == (merchant, "shpss_0123456789")
    detail = client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert detail.status_code == 200 and "shpss_0123456789" not in detail.content.decode()


def test_k1_connections_and_deliveries_of_another_merchant_are_404(client, shop, other_merchant):
    shop.post("customers/create", payload("customer_create"))
    delivery = InboundDelivery.objects.get()
    admin_of(client, other_merchant)

    assert (
        client.get(reverse("admin:integrations_connection_change", args=[shop.connection.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("admin:integrations_inbounddelivery_change", args=[delivery.pk])).status_code
        == 404
    )
    listing = client.get(reverse("admin:integrations_inbounddelivery_changelist"))
    assert listing.status_code == 200 and list(listing.context["cl"].result_list) == []


def test_k1_staff_list_failed_deliveries_and_replay_them(client, shop, merchant):
    update_merchant(merchant=merchant, auto_activate_members=False)
    shop.post("orders/paid", payload("order_paid"))
    activate_member(member=Member.objects.of(merchant).get())
    admin_of(client, merchant)
    changelist = reverse("admin:integrations_inbounddelivery_changelist")

    failed = client.get(changelist, {"outcome__exact": "failed"})
    assert [d.topic for d in failed.context["cl"].result_list] == ["orders/paid"]

    client.post(
        changelist, {"action": "replay_selected", "_selected_action": [InboundDelivery.objects.get().pk]}
    )

    assert InboundDelivery.objects.get().outcome == Outcome.PROCESSED


def test_b1_a_store_manager_cannot_replay(client, shop, merchant):
    update_merchant(merchant=merchant, auto_activate_members=False)
    shop.post("orders/paid", payload("order_paid"))
    client.force_login(staff_user(merchant, "store_manager").user)

    response = client.post(
        reverse("admin:integrations_inbounddelivery_changelist"),
        {"action": "replay_selected", "_selected_action": [InboundDelivery.objects.get().pk]},
    )

    assert response.status_code == 403
    assert InboundDelivery.objects.get().outcome == Outcome.FAILED


def test_k2_creating_an_endpoint_shows_its_secret_once_and_deliveries_can_be_resent(
    client, merchant, receiver
):
    admin_of(client, merchant)

    created = client.post(
        reverse("admin:integrations_webhookendpoint_add"),
        {"url": receiver.url, "description": "CRM", "event_types": ["member.created"], "is_active": "on"},
    )

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.merchant, endpoint.event_types) == (merchant, ["member.created"])
    assert endpoint.secret in created.content.decode()
    assert (
        endpoint.secret
        not in client.get(
            reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])
        ).content.decode()
    )

    receiver.statuses = [500] * services.MAX_ATTEMPTS
    (delivery,) = services.record_event(
        merchant_id=merchant.pk, type="member.created", payload={"member_id": 1}
    )
    for _ in range(services.MAX_ATTEMPTS):
        delivery.refresh_from_db()
        services.attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED

    client.post(
        reverse("admin:integrations_webhookdelivery_changelist"),
        {"action": "resend_selected", "_selected_action": [delivery.pk]},
    )

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )


def test_k2_endpoints_and_deliveries_of_another_merchant_are_404(client, merchant, other_merchant, receiver):
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url).obj
    (delivery,) = services.record_event(merchant_id=merchant.pk, type="member.created", payload={})
    admin_of(client, other_merchant)

    assert (
        client.get(reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk])).status_code
        == 404
    )
    listing = client.get(reverse("admin:integrations_webhookdelivery_changelist"))
    assert list(listing.context["cl"].result_list) == []


def test_b1_a_store_from_another_merchant_cannot_be_chosen_for_a_connection(client, merchant, other_merchant):
    theirs = StoreFactory(merchant=other_merchant)
    admin_of(client, merchant)

    response = client.post(
        reverse("admin:integrations_connection_add"),
        {"platform": Platform.SHOPIFY, "name": "x", "store": theirs.pk},
    )

    assert response.status_code == 200 and not Connection.objects.exists()


def _endpoint_page(endpoint: WebhookEndpoint, step: str = "change/") -> str:
    return f"/admin/integrations/webhookendpoint/{endpoint.pk}/{step}"


def test_k2_rotating_an_endpoints_secret_shows_the_new_one_once_and_signs_with_it(client, merchant, receiver):
    """Issue 17: the back office rotates as the API does (`rotate_endpoint_secret`), behind a confirmation."""
    issued = services.create_endpoint(merchant=merchant, url=receiver.url)
    admin_of(client, merchant)
    detail = client.get(_endpoint_page(issued.obj)).content.decode()
    assert (
        _endpoint_page(issued.obj, "rotate-secret/") in detail
        and _endpoint_page(issued.obj, "test/") in detail
    )

    asked = client.get(_endpoint_page(issued.obj, "rotate-secret/"))
    assert asked.status_code == 200 and WebhookEndpoint.objects.get().secret == issued.secret
    rotated = client.post(_endpoint_page(issued.obj, "rotate-secret/"))

    new = WebhookEndpoint.objects.get().secret
    assert new != issued.secret and new in rotated.content.decode()
    assert "no-store" in rotated["Cache-Control"]
    assert new not in client.get(_endpoint_page(issued.obj)).content.decode()
    client.post(_endpoint_page(issued.obj, "test/"))
    [(headers, raw)] = receiver.requests
    assert verify(new, headers, raw) and not verify(issued.secret, headers, raw)


def _speaks(merchant, language: str) -> None:  # type: ignore[no-untyped-def]
    Merchant.objects.filter(pk=merchant.pk).update(default_language=language)


def test_k2_a_test_event_is_sent_and_its_outcome_shown(client, merchant, receiver):
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url).obj
    _speaks(merchant, "en")
    admin_of(client, merchant)
    assert client.get(_endpoint_page(endpoint, "test/")).status_code == 200 and not receiver.requests

    sent = client.post(_endpoint_page(endpoint, "test/"), follow=True)

    assert [str(m) for m in sent.context["messages"]] == ["The test event was delivered (HTTP 200)."]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.status) == (services.TEST_EVENT, DeliveryStatus.DELIVERED)
    receiver.statuses = [500]
    failed = client.post(_endpoint_page(endpoint, "test/"), follow=True)
    assert [str(m) for m in failed.context["messages"]] == [
        "The test event was not delivered: HTTP 500. See the delivery log."
    ]


def test_k2_rotation_and_test_need_the_change_permission_and_the_merchant(
    client, merchant, other_merchant, receiver
):
    issued = services.create_endpoint(merchant=merchant, url=receiver.url)
    endpoint = issued.obj
    client.force_login(staff_user(merchant, "finance").user)
    assert client.post(_endpoint_page(endpoint, "rotate-secret/")).status_code == 403
    admin_of(client, other_merchant)

    assert client.post(_endpoint_page(endpoint, "rotate-secret/")).status_code == 404
    assert client.post(_endpoint_page(endpoint, "test/")).status_code == 404
    assert WebhookEndpoint.objects.get().secret == issued.secret and not receiver.requests


def test_k2_the_buttons_read_in_vietnamese_and_chinese(client, merchant, receiver):
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url).obj
    admin_of(client, merchant)

    for language, labels in [
        ("vi", ["Đổi khóa bí mật", "Gửi sự kiện thử"]),
        ("zh-hans", ["轮换密钥", "发送测试事件"]),
    ]:
        _speaks(merchant, language)
        page = client.get(_endpoint_page(endpoint)).content.decode()
        assert all(label in page for label in labels)


def test_k2_connections_and_endpoints_show_their_history_in_the_back_office(
    client, merchant, online_store, receiver
):
    """Issue 17: the History page of a connection and of an endpoint, like other configuration's, names
    who changed it; another merchant's is 404."""
    _speaks(merchant, "en")
    person = staff_user(merchant, "merchant_admin", username="lan").user
    client.force_login(person)
    connection = services.create_connection(
        merchant=merchant, platform=Platform.SHOPIFY, name="Shopify", store=online_store, actor=person
    ).obj
    client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        {"name": "Shopify VN", "store": online_store.pk, "is_active": "on"},
    )
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url, actor=person).obj
    client.post(_endpoint_page(endpoint, "rotate-secret/"))

    for model, obj in [("connection", connection), ("webhookendpoint", endpoint)]:
        history = client.get(reverse(f"admin:integrations_{model}_history", args=[obj.pk]))
        assert history.status_code == 200 and "lan" in history.content.decode()
        assert obj.history.filter(history_user=person, history_type="~").count() == 1
    assert Connection.objects.get().history.latest("history_id").name == "Shopify VN"


def test_k2_another_merchants_connection_history_is_404(client, merchant, other_merchant, online_store):
    connection = services.create_connection(
        merchant=merchant, platform=Platform.SHOPIFY, name="Shopify", store=online_store
    ).obj
    admin_of(client, other_merchant)

    assert (
        client.get(reverse("admin:integrations_connection_history", args=[connection.pk])).status_code == 404
    )
