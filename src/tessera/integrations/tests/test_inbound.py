"""K1: shop webhooks in. Realistic Shopify payloads (an order with several lines, a discount code and
shipping; a partial refund), forged and stale signatures, re-deliveries and out-of-order deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from tests.factories import MemberFactory

from tessera.integrations import services
from tessera.integrations.models import Connection, ExternalCustomer, InboundDelivery, Outcome, Platform
from tessera.integrations.tests.conftest import Shop, payload
from tessera.ledger.models import Account, AccountKind
from tessera.members.models import Member, MemberStatus
from tessera.members.services import activate_member
from tessera.sales.models import Channel, ConfirmMethod, Refund, Transaction, TransactionStatus
from tessera.tenancy.services import update_merchant

pytestmark = pytest.mark.django_db

PHONE = "+84903123456"


def balance(member: Member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def outcome(response) -> str:
    assert response.status_code == 200, response.content
    return str(response.json()["outcome"])


# --- customers ----------------------------------------------------------------------------------------


def test_k1_shop_customer_with_a_phone_becomes_an_active_member(shop, merchant):
    response = shop.post("customers/create", payload("customer_create"))

    assert outcome(response) == Outcome.PROCESSED
    member = Member.objects.of(merchant).get()
    assert (str(member.phone), member.full_name, member.email, member.status) == (
        PHONE,
        "An Nguyễn Văn",
        "an.nguyen@example.com",
        MemberStatus.ACTIVE,
    )
    assert member.home_store == shop.connection.store
    delivery = InboundDelivery.objects.get()
    assert (delivery.topic, delivery.object_id, delivery.member) == (
        "customers/create",
        "7086193786940",
        member,
    )


def test_c2_shop_customer_stays_not_activated_when_the_merchant_activates_by_hand(shop, merchant):
    update_merchant(merchant=merchant, auto_activate_members=False)

    shop.post("customers/create", payload("customer_create"))

    assert Member.objects.of(merchant).get().status == MemberStatus.NOT_ACTIVATED


def test_k1_shop_customer_without_a_phone_is_skipped(shop, merchant):
    data = payload("customer_create", phone=None, default_address={"phone": None})

    assert outcome(shop.post("customers/create", data)) == Outcome.SKIPPED
    assert not Member.objects.of(merchant).exists()


def test_c3_a_new_phone_in_the_shop_opens_a_new_account_and_keeps_the_old(shop, merchant):
    shop.post("customers/create", payload("customer_create"))
    old = Member.objects.of(merchant).get()

    update = payload("customer_create", phone="0912 345 678", updated_at="2026-03-02T10:00:00+07:00")
    assert outcome(shop.post("customers/update", update)) == Outcome.PROCESSED

    old.refresh_from_db()
    new = Member.objects.of(merchant).get(superseded_by__isnull=True)
    assert (str(new.phone), new.full_name, old.superseded_by) == ("+84912345678", "An Nguyễn Văn", new)
    assert ExternalCustomer.objects.get().member == new


def test_k1_an_older_customer_update_arriving_late_changes_nothing(shop, merchant):
    shop.post("customers/create", payload("customer_create", updated_at="2026-03-02T10:00:00+07:00"))

    late = payload("customer_create", first_name="Bình", updated_at="2026-03-01T08:00:00+07:00")
    assert outcome(shop.post("customers/update", late)) == Outcome.SKIPPED

    assert Member.objects.of(merchant).get().full_name == "An Nguyễn Văn"


# --- orders -------------------------------------------------------------------------------------------


def test_k1_e1_a_paid_order_earns_on_its_lines_after_discounts_and_not_on_shipping(shop, merchant):
    response = shop.post("orders/paid", payload("order_paid"))

    assert outcome(response) == Outcome.PROCESSED
    sale = Transaction.objects.of(merchant).get()
    # 2 × 180,000 − 36,000 + 70,000 − 7,000 + 75,000 − 7,000 = 455,000; shipping 30,000 earns nothing.
    assert [(line.sku, line.quantity, line.unit_price, line.amount) for line in sale.lines.all()] == [
        ("CF-ARA-500", 2, 180000, 324000),
        ("PHIN-M", 1, 70000, 63000),
        ("BAG-GIFT", 1, 75000, 68000),
    ]
    assert (sale.total_amount, sale.points_earned, sale.status) == (455000, 45, TransactionStatus.CONFIRMED)
    assert (sale.store, sale.channel, sale.confirm_method, sale.external_ref) == (
        shop.connection.store,
        Channel.INTEGRATION,
        ConfirmMethod.EXTERNAL,
        "5612223971388",
    )
    assert (str(sale.member.phone), balance(sale.member)) == (PHONE, 45)
    assert InboundDelivery.objects.get().transaction == sale


def test_e11_an_order_is_booked_once_whatever_the_shop_resends(shop, merchant):
    first = shop.post("orders/paid", payload("order_paid"), webhook_id="wh-1")
    same_webhook = shop.post("orders/paid", payload("order_paid"), webhook_id="wh-1")
    created_as_paid = shop.post("orders/create", payload("order_paid"), webhook_id="wh-2")

    assert [outcome(r) for r in (first, same_webhook, created_as_paid)] == [
        Outcome.PROCESSED,
        Outcome.DUPLICATE,
        Outcome.DUPLICATE,
    ]
    sale = Transaction.objects.of(merchant).get()
    assert balance(sale.member) == 45
    assert InboundDelivery.objects.count() == 3


def test_k1_an_unpaid_order_created_in_the_shop_earns_nothing_yet(shop, merchant):
    response = shop.post("orders/create", payload("order_paid", financial_status="pending"))

    assert outcome(response) == Outcome.SKIPPED
    assert not Transaction.objects.of(merchant).exists()


def test_k1_an_order_in_another_currency_fails_and_books_nothing(shop, merchant):
    response = shop.post("orders/paid", payload("order_paid", currency="USD"))

    assert outcome(response) == Outcome.FAILED
    assert InboundDelivery.objects.get().error_code == "currency_mismatch"
    assert not Transaction.objects.exists()


# --- refunds and cancellations ------------------------------------------------------------------------


def test_e9_a_partial_refund_takes_back_the_points_of_the_returned_line(shop, merchant):
    shop.post("orders/paid", payload("order_paid"))

    assert outcome(shop.post("refunds/create", payload("refund_partial"))) == Outcome.PROCESSED

    refund = Refund.objects.get()
    # One of the two coffee packs: 324,000 / 2 = 162,000; floor(45 × 162,000 / 455,000) = 16 points.
    assert (refund.amount, refund.points_reversed) == (162000, 16)
    assert [(r.line.sku, r.quantity) for r in refund.lines.all()] == [("CF-ARA-500", 1)]
    assert balance(refund.transaction.member) == 29


def test_e11_a_refund_resent_by_the_shop_is_applied_once(shop, merchant):
    shop.post("orders/paid", payload("order_paid"))
    shop.post("refunds/create", payload("refund_partial"), webhook_id="r-1")

    assert (
        outcome(shop.post("refunds/create", payload("refund_partial"), webhook_id="r-2")) == Outcome.DUPLICATE
    )
    assert Refund.objects.count() == 1


def test_k1_a_refund_arriving_before_its_order_waits_and_is_applied_when_the_order_arrives(shop, merchant):
    early = shop.post("refunds/create", payload("refund_partial"))
    assert outcome(early) == Outcome.DEFERRED
    assert not Refund.objects.exists()

    assert outcome(shop.post("orders/paid", payload("order_paid"))) == Outcome.PROCESSED

    refund = Refund.objects.get()
    assert (refund.amount, refund.points_reversed, balance(refund.transaction.member)) == (162000, 16, 29)
    waited = InboundDelivery.objects.get(topic="refunds/create")
    assert (waited.outcome, waited.refund) == (Outcome.PROCESSED, refund)


def test_e9_a_cancelled_order_is_voided_and_its_points_taken_back(shop, merchant):
    shop.post("orders/paid", payload("order_paid"))

    assert outcome(shop.post("orders/cancelled", payload("order_cancelled"))) == Outcome.PROCESSED
    assert outcome(shop.post("orders/cancelled", payload("order_cancelled"))) == Outcome.DUPLICATE

    sale = Transaction.objects.of(merchant).get()
    assert (sale.status, balance(sale.member)) == (TransactionStatus.VOIDED, 0)


def test_k1_a_cancellation_before_its_order_voids_the_order_when_it_arrives(shop, merchant):
    assert outcome(shop.post("orders/cancelled", payload("order_cancelled"))) == Outcome.DEFERRED

    shop.post("orders/paid", payload("order_paid"))

    sale = Transaction.objects.of(merchant).get()
    assert (sale.status, balance(sale.member)) == (TransactionStatus.VOIDED, 0)
    assert InboundDelivery.objects.get(topic="orders/cancelled").outcome == Outcome.PROCESSED


# --- signatures ---------------------------------------------------------------------------------------


def test_k1_a_forged_signature_gets_401_and_changes_nothing(shop, merchant):
    response = shop.post("orders/paid", payload("order_paid"), secret="not-the-secret")

    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert not (Transaction.objects.exists() or Member.objects.exists() or InboundDelivery.objects.exists())
    shop.connection.refresh_from_db()
    assert shop.connection.rejected_count == 1


def test_k1_a_body_changed_after_signing_gets_401(shop):
    body = b'{"id": 1, "phone": "+84903123456"}'
    signed = services.shop_signature(shop.secret, body)
    response = shop.client.post(
        f"/hooks/{shop.connection.token}/",
        data=body.replace(b"1", b"2"),
        content_type="application/json",
        headers={"X-Shopify-Topic": "customers/create", "X-Shopify-Hmac-Sha256": signed},
    )

    assert response.status_code == 401
    assert not Member.objects.exists()


def test_k1_a_stale_future_or_unstamped_request_gets_401(shop):
    stale = shop.post(
        "customers/create", payload("customer_create"), triggered_at=timezone.now() - timedelta(hours=49)
    )
    future = shop.post(
        "customers/create", payload("customer_create"), triggered_at=timezone.now() + timedelta(minutes=10)
    )
    unstamped = shop.post("customers/create", payload("customer_create"), stamp=False)

    assert (stale.status_code, future.status_code, unstamped.status_code) == (401, 401, 401)
    assert not Member.objects.exists()


def test_k1_a_shop_retry_hours_after_our_error_is_still_accepted(shop):
    """Shopify retries keep the first trigger time for up to 48 hours: such a retry must not be lost."""
    retried = shop.post(
        "customers/create", payload("customer_create"), triggered_at=timezone.now() - timedelta(hours=3)
    )

    assert retried.status_code == 200
    assert Member.objects.count() == 1


def test_k1_cross_merchant_a_connection_secret_of_merchant_b_cannot_post_into_merchant_a(
    client, shop, other_merchant
):
    from tests.factories import StoreFactory

    theirs = services.create_connection(
        merchant=other_merchant,
        platform=Platform.SHOPIFY,
        name="B's shop",
        store=StoreFactory(merchant=other_merchant),
    )

    response = shop.post("customers/create", payload("customer_create"), secret=theirs.secret)

    assert response.status_code == 401
    assert not Member.objects.exists()


def test_k1_an_unknown_or_deactivated_address_is_404(shop):
    services.update_connection(connection=shop.connection, is_active=False)

    assert shop.post("customers/create", payload("customer_create")).status_code == 404
    assert (
        shop.client.post(
            "/hooks/00000000-0000-0000-0000-000000000000/", data=b"{}", content_type="application/json"
        ).status_code
        == 404
    )


def test_k1_haravan_signs_with_its_own_header_and_may_omit_the_time(client, merchant, online_store, rules):
    issued = services.create_connection(
        merchant=merchant, platform=Platform.HARAVAN, name="Haravan", store=online_store, secret="hrv-secret"
    )
    haravan = Shop(client, issued.obj, "hrv-secret")

    assert outcome(haravan.post("orders/paid", payload("order_paid"), stamp=False)) == Outcome.PROCESSED
    assert Transaction.objects.of(merchant).get().points_earned == 45
    assert issued.obj.secret == "hrv-secret"


# --- failures and replay ------------------------------------------------------------------------------


def test_c2_an_order_of_a_not_activated_member_fails_and_is_replayed_after_activation(shop, merchant):
    update_merchant(merchant=merchant, auto_activate_members=False)

    assert outcome(shop.post("orders/paid", payload("order_paid"))) == Outcome.FAILED
    delivery = InboundDelivery.objects.get()
    member = Member.objects.of(merchant).get()
    assert (delivery.error_code, member.status, Transaction.objects.count()) == (
        "member_not_active",
        MemberStatus.NOT_ACTIVATED,
        0,
    )

    activate_member(member=member)
    services.replay(delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.attempts, balance(member)) == (Outcome.PROCESSED, 2, 45)


def test_k1_an_order_of_an_existing_pos_member_earns_on_their_account(shop, merchant):
    member = MemberFactory(merchant=merchant, phone="0903123456", full_name="Chị An")

    shop.post("orders/paid", payload("order_paid"))

    assert Member.objects.of(merchant).count() == 1
    assert balance(member) == 45
    assert Connection.objects.get().rejected_count == 0
