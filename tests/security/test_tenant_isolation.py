"""Tenancy is sacred (A1, K3): for EVERY operation of the served OpenAPI document, a second merchant's API
key can neither read nor change the first merchant's data.

The operations are enumerated from the document itself, so a new endpoint is covered the day it is
added — and the test fails if one of its path parameters is not known here (add it to `_path_values`).
Each operation is called with merchant B's key but with merchant A's real identifiers (A's member id, sale
id, card number, phone, store code) in the path, query and body. It must not answer 2xx with any of A's
data in it, and A's rows must be exactly as before.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client

from tessera.cards import services as cards
from tessera.cards.models import Card
from tessera.cards.tests.factories import CardTypeFactory
from tessera.ledger.models import Entry, Hold
from tessera.members.models import Member
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.rewards.models import OccasionDiscount
from tessera.sales import services as sales
from tessera.sales.models import StoreConfirmation, Transaction
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

A_PHONE = "+84912345678"
A_NAME = "Trần Thị Bình"
A_EMAIL = "binh.only.in.a@example.com"
A_ADDRESS = "12 Phố Huế, only in A"


@pytest.fixture
def world(merchant, other_merchant, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    store = StoreFactory(merchant=merchant, code="a1")
    save_policy(merchant=merchant, pending_days=0)
    member = MemberFactory(merchant=merchant, phone=A_PHONE, full_name=A_NAME)
    Member.objects.filter(pk=member.pk).update(email=A_EMAIL, address=A_ADDRESS)
    set_member_pin(member=member, pin="1357")
    batch = cards.generate_batch(merchant=merchant, card_type=CardTypeFactory(merchant=merchant), quantity=2)
    card, spare = Card.objects.filter(batch=batch).order_by("pk")
    card = cards.activate_card(card=card, phone=A_PHONE)
    sales.add_points(member=member, store=store, actor=None, points=500)
    sale = sales.create_transaction(
        merchant=merchant,
        store=store,
        member=member,
        card=card,
        lines=[sales.SaleLine(sku="CF", name="Cà phê", quantity=1, unit_price=29000)],
        points_to_spend=10,
    )
    b_store = StoreFactory(merchant=other_merchant, code="b1")
    b_key = create_api_key(merchant=other_merchant, name="B till", store=b_store).raw_key
    return {
        "store": store,
        "member": member,
        "card": card,
        "spare": spare,
        "sale": sale,
        "b_store": b_store,
        "b_key": b_key,
        "merchant": merchant,
        "batch": batch,
        "confirmation": StoreConfirmation.objects.create(merchant=merchant, store=store),
        "occasion": OccasionDiscount.objects.create(
            merchant=merchant, name="Weekend", kind="weekday", weekdays="67", percent=5
        ),
    }


def _path_values(w: dict[str, Any]) -> dict[str, str]:
    return {
        "member_id": str(w["member"].pk),
        "transaction_id": str(w["sale"].pk),
        "number": w["card"].number,
        "order_id": "A-ORDER-1",
        "redemption_id": "1",
        "code_id": "1",
        "message_id": "1",
        # The management API's (issue 17): A's own where built here; B's till key is refused there.
        "store_id": str(w["store"].pk),
        "card_type_id": str(w["card"].type_id),
        "batch_id": str(w["batch"].pk),
        "merchant_id": str(w["merchant"].pk),
        **{name: "1" for name in ("connection_id", "endpoint_id", "gift_id", "import_id", "key_id")},
        **{name: "1" for name in ("offer_id", "rule_id", "tier_id", "voucher_id")},
        # Issue 15's configuration: A's own, built above.
        "confirmation_id": str(w["confirmation"].pk),
        "occasion_id": str(w["occasion"].pk),
    }


#: Path parameters that name one of A's real records above: B must get a 4xx for them. The others
#: (records of apps whose fixtures are not built here) get the leak and unchanged-data checks only.
A_RECORDS = {
    "member_id",
    "transaction_id",
    "number",
    "store_id",
    "card_type_id",
    "batch_id",
    "merchant_id",
    "confirmation_id",
    "occasion_id",
}


def _body_overlay(w: dict[str, Any]) -> dict[str, Any]:
    """A's identifiers for every field name that names a customer; B's own store."""
    return {
        "phone": A_PHONE,
        "card_code": w["card"].number,
        "code": w["card"].number,
        "member_id": w["member"].pk,
        "store_code": w["b_store"].code,
        "full_name": "Changed By B",
        "pin": "1357",
        "method": "pin",
        "points": 10,
        "amount_spent": 100000,
        "points_to_spend": 0,
    }


def _snapshot(w: dict[str, Any]) -> Any:
    m = w["merchant"]
    return (
        list(Member.objects.filter(merchant=m).order_by("pk").values()),
        list(Card.objects.filter(merchant=m).order_by("pk").values()),
        list(Transaction.objects.filter(merchant=m).order_by("pk").values()),
        Entry.objects.filter(merchant=m).count(),
        list(Hold.objects.filter(merchant=m).order_by("pk").values("pk", "status", "amount")),
    )


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _example_body(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
    examples = schema.get("examples") or []
    return dict(examples[0]) if examples and isinstance(examples[0], dict) else {}


def test_a_second_merchants_key_reaches_none_of_the_first_merchants_data(world, client):
    document = client.get("/api/v1/openapi.json").json()
    values = _path_values(world)
    overlay = _body_overlay(world)
    b = Client(HTTP_AUTHORIZATION=f"Bearer {world['b_key']}")
    # What B never sends: if any of it comes back, B read A's records. (Phones and numbers B sends may
    # be echoed: B registering its own member with the same phone is B's data, not A's.)
    secrets_of_a = [A_NAME, A_EMAIL, A_ADDRESS]
    before = _snapshot(world)
    operations = _operations(document)
    assert len(operations) >= 16

    for method, path, op in operations:
        params = re.findall(r"{(\w+)}", path)
        unknown = [p for p in params if p not in values]
        assert not unknown, f"{method} {path}: teach this test A's value for path parameter(s) {unknown}"
        url = re.sub(r"{(\w+)}", lambda mt: values[mt.group(1)], path)
        query = {
            p["name"]: overlay[p["name"]]
            for p in op.get("parameters", [])
            if p.get("in") == "query" and p["name"] in overlay
        }
        body = {**_example_body(document, op), **overlay}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if method == "GET":
            response = b.get(url, query)
        else:
            response = b.generic(
                method, url, json.dumps(body), content_type="application/json", headers=headers
            )
        text = response.content.decode()
        leaked = [s for s in secrets_of_a if s in text]
        assert not leaked, f"{method} {path} showed merchant A's data to merchant B: {leaked}"
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {text[:300]}"
        if A_RECORDS & set(params):
            # The path names one of A's records: B must be told it does not exist (or may not).
            assert 400 <= response.status_code < 500, f"{method} {path} answered B {response.status_code}"
        assert _snapshot(world) == before, f"{method} {path} changed merchant A's data"
