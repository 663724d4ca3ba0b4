"""Issue 12: an order a shop or another system sends with numbers past the documented limits
(core.limits) is refused as an unreadable payload — recorded, nothing booked — never a 500."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from tessera.core.limits import MAX_LINE_AMOUNT, MAX_SALE_AMOUNT
from tessera.integrations.models import InboundDelivery, Outcome
from tessera.integrations.tests.conftest import payload
from tessera.ledger.models import Entry
from tessera.members.models import Member
from tessera.sales.models import Transaction
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


def _line(**changes):
    return {"id": 1, "name": "Vàng", "quantity": 1, "price": "1000.00", "total_discount": "0", **changes}


@pytest.mark.parametrize(
    "line",
    [
        _line(price="1e30"),
        _line(price="1000000000001"),
        _line(price="-5"),
        _line(price="NaN"),
        _line(price=True),
        _line(quantity=2**63),
        _line(quantity=True),
        _line(quantity="²"),
        _line(quantity="abc"),
        _line(quantity=1_000_000, price="100000000"),
        _line(total_discount="1e30"),
    ],
)
def test_a_shop_order_with_numbers_past_the_limits_is_rejected_and_books_nothing(shop, merchant, line):
    response = shop.post("orders/paid", payload("order_paid", line_items=[line]))

    assert response.status_code == 200
    assert response.json()["outcome"] == Outcome.FAILED
    assert InboundDelivery.objects.get().error_code == "invalid_payload"
    assert not Transaction.objects.exists() and not Entry.objects.exists()
    assert not Member.objects.filter(merchant=merchant).exists()


def test_a_shop_order_totalling_more_than_the_sale_limit_is_rejected(shop, merchant):
    big = _line(quantity=10, price=str(MAX_LINE_AMOUNT // 10))

    response = shop.post("orders/paid", payload("order_paid", line_items=[big, {**big, "id": 2}]))

    assert response.json()["outcome"] == Outcome.FAILED
    assert InboundDelivery.objects.get().error_code == "invalid_payload"
    assert 2 * MAX_LINE_AMOUNT > MAX_SALE_AMOUNT and not Transaction.objects.exists()


def test_a_shop_refund_with_a_quantity_past_the_limit_is_rejected(shop, merchant):
    response = shop.post(
        "refunds/create",
        {"id": 9, "order_id": 5612223971388, "refund_line_items": [{"line_item_id": 1, "quantity": 2**63}]},
    )

    assert response.json()["outcome"] == Outcome.FAILED
    assert InboundDelivery.objects.get().error_code == "invalid_payload"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": 10**7}, "quantity"),
        ({"unit_price": 10**24}, "unit_price"),
        ({"unit_price": True}, "unit_price"),
        ({"quantity": 1_000_000, "unit_price": 10**8}, "lines"),
    ],
)
def test_a_generic_order_past_the_limits_is_a_422_naming_the_field(
    merchant, rules, online_store, line, field
):
    key = create_api_key(merchant=merchant, name="ERP", store=online_store).raw_key
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    order = {
        "id": "ORD-1",
        "currency": "VND",
        "customer": {"phone": "0903123456"},
        "lines": [{"id": "L1", "name": "Vàng", "quantity": 1, "unit_price": 1000, **line}],
    }

    response = client.post(
        "/api/v1/integrations/orders",
        order,
        content_type="application/json",
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )

    assert response.status_code == 422
    assert any(field in [str(p) for p in error["loc"]] for error in response.json()["errors"])
    assert not Transaction.objects.exists()
