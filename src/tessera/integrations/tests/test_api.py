"""K1, K3: the generic integration API for other systems: orders booked once, refunds by line, out of
order, documented in the OpenAPI."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from tests.factories import StoreFactory

from tessera.ledger.models import Account, AccountKind
from tessera.members.models import Member
from tessera.sales.models import Refund, Transaction, TransactionStatus
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db

ORDER = {
    "id": "ORD-42",
    "name": "#42",
    "currency": "VND",
    "customer": {"id": "C-7", "phone": "0903123456", "full_name": "Nguyễn Văn An"},
    "lines": [
        {"id": "L1", "sku": "CF", "name": "Cà phê sữa đá", "quantity": 2, "unit_price": 45000},
        {"id": "L2", "name": "Bánh mì", "quantity": 1, "unit_price": 30000, "discount": 5000},
    ],
    "shipping": 20000,
}


class System:
    def __init__(self, raw_key: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def post(self, path: str, body: dict, key: str | None = None):
        return self.client.post(
            f"/api/v1/integrations{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )


@pytest.fixture
def system(merchant, rules, online_store):
    return System(create_api_key(merchant=merchant, name="ERP", store=online_store).raw_key)


def points(merchant) -> int:
    return sum(Account.objects.of(merchant).filter(kind=AccountKind.POINTS).values_list("balance", flat=True))


def test_k1_e11_an_order_posted_twice_with_different_keys_is_booked_once(system, merchant):
    first = system.post("/orders", ORDER)
    again = system.post("/orders", ORDER)

    assert (first.status_code, first.json()["outcome"], again.json()["outcome"]) == (
        200,
        "processed",
        "duplicate",
    )
    sale = Transaction.objects.of(merchant).get()
    # 2 × 45,000 + 30,000 − 5,000 = 115,000 → 11 points; shipping earns nothing.
    assert (sale.total_amount, sale.points_earned, points(merchant)) == (115000, 11, 11)
    assert first.json()["transaction_id"] == sale.pk
    assert str(Member.objects.of(merchant).get().phone) == "+84903123456"


def test_e11_the_same_idempotency_key_replays_the_first_answer(system):
    first = system.post("/orders", ORDER, key="k-1")
    replay = system.post("/orders", ORDER, key="k-1")

    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"


def test_e9_a_refund_by_line_and_a_refund_before_its_order(system, merchant):
    early = system.post("/orders/ORD-42/refunds", {"id": "R-1", "lines": [{"line_id": "L1", "quantity": 1}]})
    assert early.json()["outcome"] == "deferred"

    system.post("/orders", ORDER)

    refund = Refund.objects.get()
    # One coffee: 45,000 of 115,000 → floor(11 × 45,000 / 115,000) = 4 points back.
    assert (refund.amount, refund.points_reversed, points(merchant)) == (45000, 4, 7)
    again = system.post("/orders/ORD-42/refunds", {"id": "R-1", "lines": [{"line_id": "L1", "quantity": 1}]})
    assert again.json()["outcome"] == "duplicate"


def test_e9_a_cancelled_order_is_voided(system, merchant):
    system.post("/orders", ORDER)

    response = system.post("/orders/ORD-42/cancel", {"reason": "out of stock"})

    assert response.json()["outcome"] == "processed"
    assert (Transaction.objects.of(merchant).get().status, points(merchant)) == (TransactionStatus.VOIDED, 0)


def test_k1_cross_merchant_another_merchants_key_cannot_touch_this_order(system, merchant, other_merchant):
    system.post("/orders", ORDER)
    theirs = System(
        create_api_key(merchant=other_merchant, name="B", store=StoreFactory(merchant=other_merchant)).raw_key
    )

    response = theirs.post("/orders/ORD-42/cancel", {})

    assert response.json()["outcome"] == "deferred"  # in B's own namespace: no such order (yet)
    assert (Transaction.objects.of(merchant).get().status, points(merchant)) == (
        TransactionStatus.CONFIRMED,
        11,
    )


def test_k1_an_order_in_another_currency_is_refused_with_a_problem(system, merchant):
    response = system.post("/orders", {**ORDER, "currency": "USD"})

    assert (response.status_code, response.json()["code"]) == (422, "currency_mismatch")
    assert not Transaction.objects.exists()


def test_k1_a_customer_without_a_phone_is_skipped_and_one_with_a_phone_registered(system, merchant):
    assert system.post("/customers", {"id": "C-1", "full_name": "No phone"}).json()["outcome"] == "skipped"
    answer = system.post(
        "/customers", {"id": "C-2", "phone": "0912345678", "full_name": "Trần Thị Bình"}
    ).json()

    assert answer["outcome"] == "processed"
    assert Member.objects.of(merchant).get(pk=answer["member_id"]).full_name == "Trần Thị Bình"


def test_k3_the_integration_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]

    assert {"/api/v1/integrations/orders", "/api/v1/integrations/orders/{order_id}/refunds"} <= set(paths)
    assert "Idempotency-Key" in {
        p["name"] for p in paths["/api/v1/integrations/orders"]["post"]["parameters"]
    }
