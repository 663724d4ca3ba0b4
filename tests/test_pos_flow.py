"""End to end through the HTTP API: a POS looks up, quotes, sells, confirms, refunds (E1, E2, E9, E11)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.test import Client

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_a_pos_sale_from_scan_to_refund(merchant, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    store = StoreFactory(merchant=merchant, code="q1", name="Quận 1")
    save_policy(merchant=merchant, pending_days=0)
    member = MemberFactory(merchant=merchant, phone="+84912345678", full_name="Trần Thị Bình")
    set_member_pin(member=member, pin="1357")
    batch = cards.generate_batch(merchant=merchant, card_type=CardTypeFactory(merchant=merchant), quantity=1)
    card = cards.activate_card(card=Card.objects.get(batch=batch), phone="0912345678")
    pos = Client(
        HTTP_AUTHORIZATION=f"Bearer {create_api_key(merchant=merchant, name='Till 1', store=store).raw_key}"
    )

    def post(path, body, key=None):
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return pos.post(f"/api/v1{path}", body, content_type="application/json", headers=headers)

    # 1. An earlier paper bill of 500,000 đồng, entered by hand: 50 points.
    assert post("/points/add", {"phone": "0912345678", "amount_spent": 500000}).json()["points_balance"] == 50

    # 2. The cashier scans the card's QR code.
    found = pos.get("/api/v1/lookup", {"code": f"TSR1:{card.number}"}).json()
    assert (found["member"]["name"], found["balances"]["points_available"]) == ("Trần Thị Bình", 50)

    basket = {
        "card_code": card.number,
        "lines": [
            {"sku": "CF-SUA", "name": "Cà phê sữa", "quantity": 3, "unit_price": 29000},
            {"sku": "BANH-MI", "name": "Bánh mì", "quantity": 2, "unit_price": 25000},
        ],
        "points_to_spend": 30,
    }
    # 3. Quote: 137,000 đồng; 30 points pay 3,000; 134,000 earn 13 points.
    quote = post("/quote", basket).json()
    assert (quote["amount_due"], quote["amount_to_pay"], quote["points_to_earn"]) == (137000, 134000, 13)

    # 4. Create; the POS times out and retries with the same key: one sale.
    created = post("/transactions", {**basket, "external_ref": "HD-0001"}, key="till-1-0001")
    retried = post("/transactions", {**basket, "external_ref": "HD-0001"}, key="till-1-0001")
    sale = created.json()
    assert (created.status_code, retried.status_code, retried["Idempotent-Replayed"]) == (201, 201, "true")
    assert retried.json()["id"] == sale["id"]
    held = pos.get("/api/v1/lookup", {"phone": "0912345678"}).json()["balances"]
    assert (held["points"], held["points_held"], held["points_available"]) == (50, 30, 20)

    # 5. Confirm with the code texted to the member.
    assert post(f"/transactions/{sale['id']}/otp", {}).status_code == 200
    text = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"]
    (code,) = re.findall(r"\b\d{6}\b", text)
    confirmed = post(f"/transactions/{sale['id']}/confirm", {"method": "otp", "otp": code}).json()
    assert (confirmed["status"], confirmed["confirm_method"]) == ("confirmed", "otp")
    after = pos.get("/api/v1/lookup", {"phone": "0912345678"}).json()["balances"]
    assert (after["points"], after["points_held"]) == (50 - 30 + 13, 0)

    # 6. One coffee comes back: 29,000 of 137,000.
    coffee = confirmed["lines"][0]
    refund = post(
        f"/transactions/{sale['id']}/refunds", {"lines": [{"line_id": coffee["id"], "quantity": 1}]}
    )
    assert refund.status_code == 201
    # floor(13 × 29/137) = 2 earned points back; floor(30 × 29/137) = 6 spent points given back.
    assert (refund.json()["points_reversed"], refund.json()["points_returned"]) == (2, 6)
    final = pos.get("/api/v1/lookup", {"phone": "0912345678"}).json()["balances"]
    assert final["points"] == 33 - 2 + 6

    # 7. The sale as the POS sees it now.
    detail = pos.get(f"/api/v1/transactions/{sale['id']}").json()
    assert [line["refunded_quantity"] for line in detail["lines"]] == [1, 0]
    assert len(detail["refunds"]) == 1
