"""A refusal raised after the work wrote leaves nothing of it, and its retry replays the refusal
(issue 13 item 6).

Without savepoints a service cannot undo only its own part: `core.idempotency.run_once` rolls the whole
transaction back and stores the refusal in a fresh one. Each hot endpoint is refused here at the very
end of its work (when its answer is shaped, after every write), in real transactions as in production.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

from tessera.core.errors import Conflict
from tessera.core.models import IdempotencyRecord
from tessera.ledger.models import Account, Entry, Hold, Lot, LotUse
from tessera.members.services import register_member
from tessera.reports.models import EntryDelta, SaleDelta
from tessera.sales import api
from tessera.sales.models import Refund, SalesSettings, Transaction
from tessera.tenancy.services import create_api_key, create_merchant, create_store

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+84901234567"
LINES = [
    {"sku": "PHO", "name": "Pho", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA", "name": "Tra da", "quantity": 4, "unit_price": 5000},
]


class Till:
    def __init__(self) -> None:
        merchant = create_merchant(name="Late", slug=f"late-{uuid.uuid4().hex[:8]}", currency="VND")
        store = create_store(merchant=merchant, code="main", name="Main")
        SalesSettings.objects.update_or_create(
            merchant=merchant,
            defaults={"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": False},
        )
        register_member(merchant=merchant, full_name="Late", phone=PHONE)
        key = create_api_key(merchant=merchant, name="till", store=store).raw_key
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def post(self, path: str, body: dict[str, Any], key: str | None = None) -> Any:
        return self.client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": key or uuid.uuid4().hex},
        )

    def confirmed_sale(self) -> dict[str, Any]:
        sale = self.post("/transactions", {"phone": PHONE, "lines": LINES}).json()
        return self.post(f"/transactions/{sale['id']}/confirm", {"method": "none"}).json()


def state() -> dict[str, Any]:
    """Every row the hot endpoints write, and the balances."""
    return {
        "entries": Entry.objects.count(),
        "lots": list(Lot.objects.order_by("pk").values_list("pk", "remaining", "released")),
        "lot uses": LotUse.objects.count(),
        "holds": list(Hold.objects.order_by("pk").values_list("pk", "status")),
        "accounts": list(Account.objects.order_by("pk").values_list("pk", "balance", "pending", "held")),
        "entry deltas": EntryDelta.objects.aggregate(n=Sum("amount")),
        "sale deltas": SaleDelta.objects.count(),
        "sales": list(Transaction.objects.order_by("pk").values_list("pk", "status")),
        "refunds": Refund.objects.count(),
    }


def refuse_late(*args: Any, **kwargs: Any) -> Any:
    raise Conflict("Refused after the work was written.", code="late_refusal")


CASES = {
    # endpoint: (what shapes its answer, how to prepare, the request)
    "points/add": (
        "_points_out",
        lambda till: None,
        lambda _: ("/points/add", {"phone": PHONE, "amount_spent": 150000}),
    ),
    "transactions": (
        "_sale_out",
        lambda till: None,
        lambda _: ("/transactions", {"phone": PHONE, "lines": LINES}),
    ),
    "confirm": (
        "_sale_out",
        lambda till: till.post("/transactions", {"phone": PHONE, "lines": LINES}).json(),
        lambda sale: (f"/transactions/{sale['id']}/confirm", {"method": "none"}),
    ),
    "void": (
        "_sale_out",
        lambda till: till.confirmed_sale(),
        lambda sale: (f"/transactions/{sale['id']}/void", {"reason": "late"}),
    ),
    "refund by line": (
        "_refund_out",
        lambda till: till.confirmed_sale(),
        lambda sale: (
            f"/transactions/{sale['id']}/refunds",
            {"lines": [{"line_id": sale["lines"][0]["id"], "quantity": 1}], "reason": "late"},
        ),
    ),
}


@pytest.mark.parametrize("endpoint", list(CASES))
def test_a_late_refusal_leaves_no_row_of_the_work_and_its_retry_replays_it(endpoint, monkeypatch):
    shaper, prepare, request = CASES[endpoint]
    till = Till()
    till.post("/points/add", {"phone": PHONE, "points": 500})  # something to spend and to take back
    path, body = request(prepare(till))
    before = state()
    key = uuid.uuid4().hex

    monkeypatch.setattr(api, shaper, refuse_late)
    refused = till.post(path, body, key=key)
    monkeypatch.undo()

    assert refused.status_code == 409, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "late_refusal"
    assert state() == before  # nothing of the work remains
    assert IdempotencyRecord.objects.filter(key=key, status_code=409).count() == 1

    again = till.post(path, body, key=key)  # the same request again: the stored refusal, not the work
    assert (again.status_code, again.content) == (refused.status_code, refused.content)
    assert again["Idempotent-Replayed"] == "true"
    assert state() == before
