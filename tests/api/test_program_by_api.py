"""Issue 17, how it is checked: a complete program for a fresh merchant built through the API only —
operator key → merchant and store → admin key → points policy, tiers, earning rule, gift, card type and
batch, webhook endpoint, a till's key — then a sale through the till's key, checked for its points, the
member's tier and the signed webhook delivered to a real receiver."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from tessera.integrations.tests.conftest import Receiver
from tessera.integrations.tests.test_outbound import verify
from tessera.tenancy.services import create_operator_key

pytestmark = pytest.mark.django_db


class Bearer:
    """JSON in and out under /api/v1/ with one key; an Idempotency-Key on every POST."""

    def __init__(self, raw_key: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def post(self, path: str, body: Any = None, status: int = 201) -> Any:
        answer = self.client.post(
            "/api/v1" + path,
            body or {},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert answer.status_code == status, (path, answer.status_code, answer.content)
        return answer.json()

    def get(self, path: str) -> Any:
        answer = self.client.get("/api/v1" + path)
        assert answer.status_code == 200, (path, answer.content)
        return answer

    def change(self, path: str, body: Any) -> Any:
        etag = self.get(path)["ETag"]
        answer = self.client.patch(
            "/api/v1" + path, body, content_type="application/json", HTTP_IF_MATCH=etag
        )
        assert answer.status_code == 200, (path, answer.content)
        return answer.json()


@pytest.fixture
def receiver(settings):  # type: ignore[no-untyped-def]
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True  # the receiver is on loopback
    server = Receiver()
    yield server
    server.close()


def test_a_whole_program_is_built_by_api_and_a_sale_earns_by_it(  # type: ignore[no-untyped-def]
    receiver, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path  # the member's code, read as the SMS
    operator = Bearer(create_operator_key(name="Provisioning").raw_key)
    merchant = operator.post(
        "/operator/merchants",
        {
            "name": "Phở Ngon",
            "slug": "pho-ngon",
            "currency": "VND",
            "time_zone": "Asia/Ho_Chi_Minh",
            "default_language": "vi",
        },
    )
    operator.post(f"/operator/merchants/{merchant['id']}/stores", {"code": "q1", "name": "Quận 1"})
    admin = Bearer(
        operator.post(f"/operator/merchants/{merchant['id']}/keys", {"name": "Setup", "scope": "admin"})[
            "key"
        ]
    )

    policy = admin.change("/points-policy", {"earn_points": "1", "earn_per_amount": 10000})
    assert policy["earn_per_amount"] == 10000
    admin.post("/tier-program", {"basis": "spend", "window": "rolling_months", "window_months": 12})
    admin.post("/tier-program/tiers", {"code": "silver", "name": "Bạc", "rank": 1, "threshold": 0})
    admin.post("/tier-program/tiers", {"code": "gold", "name": "Vàng", "rank": 2, "threshold": 100000})
    admin.post(
        "/earning-rules",
        {"name": "Cơ bản", "priority": 10, "effect": "per_amount", "points": "1", "per_amount": 10000},
    )
    admin.post(
        "/earning-rules",
        {"name": "Chào mừng", "priority": 20, "combine": "add", "effect": "fixed", "bonus_points": 5},
    )
    admin.post("/gifts", {"name": "Phở miễn phí", "points_cost": 500, "stock_change": 100})
    card_type = admin.post(
        "/card-types", {"name": "Thẻ thành viên", "kind": "points", "number_prefix": "8868"}
    )
    batch = admin.post("/card-batches", {"card_type_id": card_type["id"], "quantity": 10})
    assert batch["quantity"] == 10
    endpoint = admin.post("/webhook-endpoints", {"url": receiver.url, "event_types": ["sale.confirmed"]})
    till = Bearer(admin.post("/keys", {"name": "Quầy 1", "scope": "pos", "store_code": "q1"})["key"])

    till.post("/members", {"phone": "0903123456", "full_name": "Nguyễn Thị Lan"})
    lines = [{"name": "Phở bò", "quantity": 2, "unit_price": 75000}]
    sale = till.post("/transactions", {"phone": "0903123456", "lines": lines})
    assert "otp" in sale["confirm_methods"], sale["confirm_methods"]  # a new merchant's default
    till.post(f"/transactions/{sale['id']}/otp", status=200)
    text = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"]
    (code,) = re.findall(r"\b\d{6}\b", text)
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = till.post(
            f"/transactions/{sale['id']}/confirm", {"method": "otp", "otp": code}, status=200
        )

    # 150,000 đồng: 15 points by the base rule, 5 by the welcome rule; above gold's threshold by spend.
    assert confirmed["points_earned"] == 20, confirmed
    looked_up = till.get("/lookup?phone=0903123456").json()
    assert looked_up["balances"]["points"] == 20, looked_up
    tier = till.get(f"/tiers/members/{looked_up['member']['id']}").json()
    assert tier["tier"]["code"] == "gold", tier
    [(headers, raw)] = receiver.requests
    assert verify(endpoint["secret"], headers, raw)
    event = json.loads(raw)
    assert (event["type"], event["data"]["transaction_id"], event["data"]["points_earned"]) == (
        "sale.confirmed",
        sale["id"],
        20,
    )
