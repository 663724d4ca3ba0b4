"""K2: signed webhooks out, to a real HTTP receiver on 127.0.0.1; retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from tests.factories import MemberFactory, StoreFactory

from tessera.core.errors import ValidationFailed
from tessera.integrations import services
from tessera.integrations.models import DeliveryStatus, WebhookDelivery
from tessera.sales import services as sales
from tessera.sales.models import SalesSettings

pytestmark = pytest.mark.django_db


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does with `Tessera-Signature` (written from the documentation, not our code)."""
    parts = dict(item.split("=", 1) for item in headers["Tessera-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected) and abs(time.time() - int(parts["t"])) <= tolerance


def confirmed_sale(merchant, capture):
    SalesSettings.objects.filter(merchant=merchant).update(
        confirm_with_pin=False, confirm_with_otp=False, confirm_with_staff=False
    )
    store = StoreFactory(merchant=merchant)
    member = MemberFactory(merchant=merchant)
    sale = sales.create_transaction(
        merchant=merchant, store=store, member=member, lines=[sales.SaleLine("Phở bò", 2, 65000)]
    )
    with capture(execute=True):
        sales.confirm_transaction(transaction=sale, method="none")
    return sale


def test_k2_a_confirmed_sale_is_posted_signed_to_the_merchants_endpoint(
    merchant, receiver, django_capture_on_commit_callbacks
):
    SalesSettings.for_merchant(merchant)
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url, event_types=["sale.confirmed"])

    sale = confirmed_sale(merchant, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify(endpoint.secret, headers, body)
    assert not verify("whsec_other", headers, body)
    event = json.loads(body)
    assert (event["type"], headers["Tessera-Event"], event["merchant_id"]) == (
        "sale.confirmed",
        "sale.confirmed",
        merchant.pk,
    )
    assert (event["data"]["transaction_id"], event["data"]["amount_due"], event["data"]["points_earned"]) == (
        sale.pk,
        130000,
        13,
    )
    assert "phone" not in body.decode() and "full_name" not in body.decode()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )
    assert str(delivery.event_id) == event["id"] == headers["Tessera-Delivery"]


def test_k2_a_delivery_answered_500_is_retried_after_the_backoff_and_then_succeeds(
    merchant, receiver, django_capture_on_commit_callbacks
):
    SalesSettings.for_merchant(merchant)
    services.create_endpoint(merchant=merchant, url=receiver.url, event_types=["sale.confirmed"])
    receiver.statuses = [500]

    confirmed_sale(merchant, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(event_type="sale.confirmed")
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        DeliveryStatus.RETRYING,
        1,
        500,
    )
    assert delivery.next_attempt_at is not None
    assert services.deliver_due(now=delivery.next_attempt_at - timedelta(seconds=1)) == 0

    assert services.deliver_due(now=delivery.next_attempt_at) >= 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (
        DeliveryStatus.DELIVERED,
        2,
        200,
    )
    sale_posts = [body for _h, body in receiver.requests if b'"sale.confirmed"' in body]
    assert len(sale_posts) == 2 and sale_posts[0] == sale_posts[1]


def test_k2_a_delivery_is_given_up_after_the_last_attempt(merchant, receiver):
    endpoint = services.create_endpoint(merchant=merchant, url=receiver.url).obj
    receiver.statuses = [503] * services.MAX_ATTEMPTS
    now = timezone.now()
    (delivery,) = services.record_event(
        merchant_id=merchant.pk, type="points.added", payload={"points": 5}, now=now
    )

    for _attempt in range(services.MAX_ATTEMPTS):
        delivery.refresh_from_db()
        assert services.attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at) is not None

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 6, None)
    assert len(receiver.requests) == services.MAX_ATTEMPTS
    assert endpoint.deliveries.get() == delivery


def test_k2_an_attempt_in_progress_is_not_sent_twice(merchant, receiver):
    services.create_endpoint(merchant=merchant, url=receiver.url)
    now = timezone.now()
    (delivery,) = services.record_event(merchant_id=merchant.pk, type="member.created", payload={}, now=now)
    assert services._claim(delivery.pk, now)  # another worker is sending it

    assert services.attempt(delivery_id=delivery.pk, now=now) is None
    assert receiver.requests == []


def test_k2_endpoints_receive_only_the_event_types_they_chose_and_only_their_merchants(
    merchant, other_merchant, receiver
):
    services.create_endpoint(merchant=merchant, url=receiver.url, event_types=["member.created"])
    services.create_endpoint(merchant=other_merchant, url=receiver.url)

    assert services.record_event(merchant_id=merchant.pk, type="sale.confirmed", payload={}) == []
    (delivery,) = services.record_event(
        merchant_id=merchant.pk, type="member.created", payload={"member_id": 1}
    )
    assert delivery.endpoint.merchant == merchant


def test_k2_private_addresses_are_refused_outside_development(merchant, settings):
    """Issue 12: loopback and private endpoints are refused when saved, and again at send time (an
    endpoint saved while allowed, or a name that resolves elsewhere since)."""
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationFailed) as refused:
        services.create_endpoint(merchant=merchant, url="http://127.0.0.1:9/hook")
    assert refused.value.code == "https_required"
    with pytest.raises(ValidationFailed) as refused:
        services.create_endpoint(merchant=merchant, url="https://10.0.0.8/hook")
    assert refused.value.code == "address_not_public"

    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True
    services.create_endpoint(merchant=merchant, url="https://127.0.0.1:9/hook")
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False
    (delivery,) = services.record_event(merchant_id=merchant.pk, type="member.created", payload={})
    services.attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_response_code, delivery.last_error) == (
        DeliveryStatus.RETRYING,
        None,
        "refused: not a public address",
    )


def test_k2_an_event_is_recorded_with_the_write_even_when_the_process_dies_before_sending(merchant):
    """The outbox: the delivery row commits with the sale, so a worker killed between the commit and
    the send leaves the event to the periodic sweep instead of losing it."""
    SalesSettings.for_merchant(merchant)
    services.create_endpoint(
        merchant=merchant, url="https://shop.example/hook", event_types=["sale.confirmed"]
    )
    SalesSettings.objects.filter(merchant=merchant).update(
        confirm_with_pin=False, confirm_with_otp=False, confirm_with_staff=False
    )
    sale = sales.create_transaction(
        merchant=merchant,
        store=StoreFactory(merchant=merchant),
        member=MemberFactory(merchant=merchant),
        lines=[sales.SaleLine("Phở bò", 1, 65000)],
    )

    sales.confirm_transaction(transaction=sale, method="none")  # its after-commit send never runs here

    delivery = WebhookDelivery.objects.get(event_type="sale.confirmed")
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert delivery.payload["transaction_id"] == sale.pk
