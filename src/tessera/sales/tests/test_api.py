"""The point-of-sale API (E1, E2, E4, E9, E11, K3), and never across merchants (A1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tessera.core.models import IdempotencyRecord
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.points.services import save_policy
from tessera.sales import services
from tessera.sales.models import ConfirmationAttempt, Transaction, TransactionStatus
from tessera.sales.tasks import purge_old_idempotency_records
from tessera.sales.tests.conftest import PIN, Pos, active_card
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db

LINES = [
    {"sku": "PHO-BO", "name": "Phở bò", "quantity": 2, "unit_price": 65000},
    {"sku": "TRA-DA", "name": "Trà đá", "quantity": 4, "unit_price": 5000},
]  # 150,000 đồng → 15 points


def points_of(member) -> Account:
    return Account.objects.get(member=member, kind=AccountKind.POINTS)


def test_e1_lookup_by_card_qr_or_phone_shows_member_preferences_and_balances(pos, member, store):
    member.preferences = "No coriander"
    member.save()
    card = active_card(member)
    services.add_points(member=member, store=store, actor=None, points=120)

    by_qr = pos.get("/lookup", {"code": f"TSR1:{card.number}"})
    by_phone = pos.get("/lookup", {"phone": "0903 123 456"})

    assert by_qr.status_code == 200, by_qr.content
    body = by_qr.json()
    assert body["member"] == {
        "id": member.pk,
        "name": "Nguyễn Văn An",
        "phone": "+84903123456",
        "status": "active",
        "preferences": "No coriander",
    }
    assert (body["card"]["number"], body["balances"]["points"], body["balances"]["points_available"]) == (
        card.number,
        120,
        120,
    )
    assert by_phone.json()["member"]["id"] == member.pk
    assert by_phone.json()["card"] is None


def test_e1_lookup_of_an_unknown_code_is_a_problem_404(pos, member):
    response = pos.get("/lookup", {"code": "0000000000"})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "card_not_found"


def test_e1_quote_answers_before_payment(pos, member, store):
    services.add_points(member=member, store=store, actor=None, points=50)

    response = pos.post("/quote", {"member_id": member.pk, "lines": LINES, "points_to_spend": 50})
    without_key = pos.post("/quote", {"member_id": member.pk, "lines": LINES}, key=None)

    assert response.status_code == 200, response.content
    # A quote changes nothing, so it needs no Idempotency-Key and stores none (issue 13 item 7).
    assert without_key.status_code == 200, without_key.content
    assert not IdempotencyRecord.objects.filter(path__endswith="/quote").exists()
    body = response.json()
    # 50 points pay 5,000 đồng; 145,000 earn 14 points.
    assert (
        body["total_amount"],
        body["points_spend_value"],
        body["amount_to_pay"],
        body["points_to_earn"],
    ) == (
        150000,
        5000,
        145000,
        14,
    )
    assert (body["discount_amount"], body["benefits"], body["points_available"]) == (0, [], 50)
    assert Transaction.objects.count() == 0


def test_e2_create_then_confirm_with_pin_changes_balances_only_on_confirm(pos, member, store):
    services.add_points(member=member, store=store, actor=None, points=100)

    created = pos.post("/transactions", {"phone": "0903123456", "lines": LINES, "points_to_spend": 40})
    assert created.status_code == 201, created.content
    sale = created.json()
    assert (sale["status"], sale["points_earned"], sale["store_code"]) == ("pending", 14, "hoan-kiem")
    assert (points_of(member).balance, points_of(member).spendable) == (100, 60)

    confirmed = pos.post(f"/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN})

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "confirmed"
    assert points_of(member).balance == 100 - 40 + 14
    assert pos.get(f"/transactions/{sale['id']}").json()["confirm_method"] == "pin"


def test_e10_spending_through_the_api_uses_the_first_expiring_lot_first(pos, member, store, rules):
    now = timezone.now()
    late = services.add_points(member=member, store=store, actor=None, points=100, now=now)
    save_policy(merchant=member.merchant, expiry_period=1)
    early = services.add_points(member=member, store=store, actor=None, points=30, now=now)

    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES, "points_to_spend": 50}).json()
    pos.post(f"/transactions/{sale['id']}/confirm", {"method": "pin", "pin": PIN})

    assert early.lots.get().remaining == 0
    assert late.lots.get().remaining == 80


def test_e2_otp_flow_through_the_api(pos, member, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()

    sent = pos.post(f"/transactions/{sale['id']}/otp")

    assert sent.status_code == 200, sent.content
    assert sent.json()["sent_to"].endswith("3456")
    import json
    import re

    text = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"]
    (code,) = re.findall(r"\b\d{6}\b", text)
    confirmed = pos.post(f"/transactions/{sale['id']}/confirm", {"method": "otp", "otp": code})
    assert (confirmed.status_code, confirmed.json()["status"]) == (200, "confirmed")


def test_e2_staff_confirmation_through_the_api(pos, merchant, member, store):
    from tests.factories import staff_user

    staff_user(merchant, "cashier", stores=[store], username="thu-ngan")
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()

    wrong = pos.post(
        f"/transactions/{sale['id']}/confirm",
        {"method": "staff", "staff_username": "thu-ngan", "staff_password": "nope"},
    )
    right = pos.post(
        f"/transactions/{sale['id']}/confirm",
        {"method": "staff", "staff_username": "thu-ngan", "staff_password": "correct horse battery staple"},
    )

    assert (wrong.status_code, wrong.json()["code"]) == (403, "invalid_staff_credentials")
    assert (right.status_code, right.json()["confirm_method"]) == (200, "staff")


def test_e2_pin_lockout_through_the_api_is_423(pos, member, rules):
    rules.confirm_attempt_limit = 2
    rules.save()
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()
    path = f"/transactions/{sale['id']}/confirm"

    answers = [pos.post(path, {"method": "pin", "pin": "9999"}) for _try in range(2)]
    locked = pos.post(path, {"method": "pin", "pin": PIN})

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(422, "wrong_pin"), (422, "wrong_pin")]
    assert (locked.status_code, locked.json()["code"]) == (423, "confirmation_locked")
    assert pos.get(f"/transactions/{sale['id']}").json()["locked"] is True


def test_e9_void_and_refunds_through_the_api(pos, member):
    first = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()
    voided = pos.post(f"/transactions/{first['id']}/void", {"reason": "customer left"})
    second = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()
    pos.post(f"/transactions/{second['id']}/confirm", {"method": "pin", "pin": PIN})
    pho = second["lines"][0]

    partial = pos.post(
        f"/transactions/{second['id']}/refunds", {"lines": [{"line_id": pho["id"], "quantity": 1}]}
    )
    rest = pos.post(f"/transactions/{second['id']}/refunds", {})
    again = pos.post(f"/transactions/{second['id']}/refunds", {})

    assert (voided.status_code, voided.json()["status"]) == (200, "voided")
    assert partial.status_code == 201, partial.content
    # 65,000 of 150,000: floor(15 × 65/150) = 6 points back; the rest settles the other 9.
    assert (partial.json()["amount"], partial.json()["points_reversed"]) == (65000, 6)
    assert (rest.json()["amount"], rest.json()["points_reversed"], rest.json()["completes_return"]) == (
        85000,
        9,
        True,
    )
    assert (again.status_code, again.json()["code"]) == (422, "nothing_to_refund")
    assert points_of(member).balance == 0
    detail = pos.get(f"/transactions/{second['id']}").json()
    assert [line["refunded_quantity"] for line in detail["lines"]] == [2, 4]


def test_e4_add_and_deduct_points_through_the_api(pos, member):
    added = pos.post("/points/add", {"phone": "0903123456", "amount_spent": 99000, "note": "paper bill"})
    deducted = pos.post("/points/deduct", {"member_id": member.pk, "points": 4, "reason": "typo"})
    too_many = pos.post("/points/deduct", {"member_id": member.pk, "points": 6, "reason": "typo"})

    assert (added.status_code, added.json()["points"], added.json()["points_balance"]) == (201, 9, 9)
    assert (deducted.status_code, deducted.json()["points"], deducted.json()["points_balance"]) == (
        201,
        -4,
        5,
    )
    assert (too_many.status_code, too_many.json()["code"]) == (409, "insufficient_balance")


def test_a2_merchant_wide_key_must_name_the_store_and_a_store_key_acts_in_its_own(
    merchant, member, store, store2
):
    wide = Pos(create_api_key(merchant=merchant, name="ERP").raw_key)
    store_key = Pos(create_api_key(merchant=merchant, name="POS 2", store=store2).raw_key)

    unnamed = wide.post("/transactions", {"member_id": member.pk, "lines": LINES})
    named = wide.post("/transactions", {"member_id": member.pk, "lines": LINES, "store_code": "hoan-kiem"})
    elsewhere = store_key.post(
        "/transactions", {"member_id": member.pk, "lines": LINES, "store_code": "hoan-kiem"}
    )
    other_store_sale = store_key.get(f"/transactions/{named.json()['id']}")

    assert (unnamed.status_code, unnamed.json()["code"]) == (422, "store_required")
    assert (named.status_code, named.json()["store_code"]) == (201, "hoan-kiem")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "store_mismatch")
    assert other_store_sale.status_code == 404


# --- idempotency (E11) --------------------------------------------------------------------------------


def test_e11_every_post_that_changes_something_requires_an_idempotency_key(pos, member):
    paths = [
        ("/transactions", {"member_id": member.pk, "lines": LINES}),
        ("/points/add", {"member_id": member.pk, "points": 5}),
        ("/points/deduct", {"member_id": member.pk, "points": 5, "reason": "x"}),
    ]
    sale = services.create_transaction(
        merchant=member.merchant,
        store=pos_store(member),
        member=member,
        lines=[services.SaleLine("Phở", 1, 50000)],
    )
    for action in ("confirm", "otp", "void", "refunds"):
        paths.append(
            (
                f"/transactions/{sale.pk}/{action}",
                {"method": "pin", "pin": PIN} if action == "confirm" else {},
            )
        )

    answers = [pos.post(path, body, key=None) for path, body in paths]

    assert {(a.status_code, a.json()["code"]) for a in answers} == {(400, "idempotency_key_required")}
    assert Transaction.objects.count() == 1
    assert Entry.objects.count() == 0


def pos_store(member):
    from tessera.tenancy.models import Store

    return Store.objects.get(merchant=member.merchant, code="hoan-kiem")


def test_e11_a_retry_replays_the_first_answer_exactly(pos, member):
    body = {"member_id": member.pk, "lines": LINES, "external_ref": "HD-42"}

    first = pos.post("/transactions", body, key="retry-1")
    retry = pos.post("/transactions", body, key="retry-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.content == first.content
    assert (first.get("Idempotent-Replayed"), retry["Idempotent-Replayed"]) == (None, "true")
    assert Transaction.objects.count() == 1


def test_e11_the_same_key_with_another_body_is_refused(pos, member):
    pos.post("/points/add", {"member_id": member.pk, "points": 5}, key="k-1")

    reused = pos.post("/points/add", {"member_id": member.pk, "points": 50}, key="k-1")

    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert points_of(member).balance == 5


def test_e11_a_replayed_wrong_pin_does_not_count_as_another_attempt(pos, member):
    sale = pos.post("/transactions", {"member_id": member.pk, "lines": LINES}).json()
    path = f"/transactions/{sale['id']}/confirm"

    first = pos.post(path, {"method": "pin", "pin": "0000"}, key="confirm-1")
    retry = pos.post(path, {"method": "pin", "pin": "0000"}, key="confirm-1")

    assert (first.status_code, retry.status_code, retry.content) == (422, 422, first.content)
    assert ConfirmationAttempt.objects.filter(succeeded=False).count() == 1


def test_e11_keys_are_per_merchant(pos, other_pos, member, other_merchant):
    from tests.factories import MemberFactory

    theirs = MemberFactory(merchant=other_merchant, phone="+8613800138000")
    mine = pos.post("/points/add", {"member_id": member.pk, "points": 5}, key="shared")
    their = other_pos.post("/points/add", {"member_id": theirs.pk, "points": 7}, key="shared")

    assert (mine.status_code, their.status_code, their.json()["points"]) == (201, 201, 7)
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_e11_old_idempotency_records_are_purged(pos, member):
    pos.post("/points/add", {"member_id": member.pk, "points": 5}, key="last-week")
    pos.post("/points/add", {"member_id": member.pk, "points": 6}, key="today")
    IdempotencyRecord.objects.filter(key="last-week").update(created_at=timezone.now() - timedelta(days=8))

    assert purge_old_idempotency_records.call_local() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["today"]


# --- tenancy (A1): a key of merchant B finds nothing of merchant A ------------------------------------


def test_a1_another_merchants_key_gets_404_on_every_endpoint(pos, other_pos, member, store):
    card = active_card(member)
    services.add_points(member=member, store=store, actor=None, points=100)
    sale = services.create_transaction(
        merchant=member.merchant, store=store, member=member, lines=[services.SaleLine("Phở", 1, 50000)]
    )
    confirmed = services.create_transaction(
        merchant=member.merchant, store=store, member=member, lines=[services.SaleLine("Phở", 1, 50000)]
    )
    services.confirm_transaction(transaction=confirmed, method="pin", pin=PIN)
    entries = Entry.objects.count()
    by_member = {"member_id": member.pk, "lines": LINES}

    answers = {
        "lookup card": other_pos.get("/lookup", {"code": card.number}),
        "lookup phone": other_pos.get("/lookup", {"phone": "+84903123456"}),
        "quote": other_pos.post("/quote", by_member),
        "create by card": other_pos.post("/transactions", {"card_code": card.number, "lines": LINES}),
        "create by member": other_pos.post("/transactions", by_member),
        "get": other_pos.get(f"/transactions/{sale.pk}"),
        "confirm": other_pos.post(f"/transactions/{sale.pk}/confirm", {"method": "pin", "pin": PIN}),
        "otp": other_pos.post(f"/transactions/{sale.pk}/otp"),
        "void": other_pos.post(f"/transactions/{sale.pk}/void", {}),
        "refund": other_pos.post(f"/transactions/{confirmed.pk}/refunds", {}),
        "add points": other_pos.post("/points/add", {"member_id": member.pk, "points": 5}),
        "deduct points": other_pos.post(
            "/points/deduct", {"member_id": member.pk, "points": 5, "reason": "x"}
        ),
    }

    assert {name: a.status_code for name, a in answers.items()} == {name: 404 for name in answers}
    sale.refresh_from_db()
    assert (sale.status, confirmed.refunds.count(), Entry.objects.count()) == (
        TransactionStatus.PENDING,
        0,
        entries,
    )


# --- documentation (K3) -------------------------------------------------------------------------------


def test_k3_openapi_documents_every_pos_endpoint_its_errors_and_the_idempotency_key(client):
    spec = client.get("/api/v1/openapi.json").json()

    assert "Problem" in spec["components"]["schemas"]
    expected = {
        ("get", "/api/v1/lookup"),
        ("post", "/api/v1/quote"),
        ("post", "/api/v1/transactions"),
        ("get", "/api/v1/transactions/{transaction_id}"),
        ("post", "/api/v1/transactions/{transaction_id}/confirm"),
        ("post", "/api/v1/transactions/{transaction_id}/otp"),
        ("post", "/api/v1/transactions/{transaction_id}/void"),
        ("post", "/api/v1/transactions/{transaction_id}/refunds"),
        ("post", "/api/v1/points/add"),
        ("post", "/api/v1/points/deduct"),
    }
    for method, path in expected:
        operation = spec["paths"][path][method]
        problem_ref = operation["responses"]["404"]["content"]["application/problem+json"]["schema"]["$ref"]
        assert problem_ref.endswith("/Problem"), (method, path)
        assert {"200", "201"} & set(operation["responses"]), (method, path)
        if method == "post":
            headers = [(p["name"], p["required"]) for p in operation["parameters"] if p["in"] == "header"]
            # Required where the request changes something; a quote only reads (issue 13 item 7).
            assert headers == [("Idempotency-Key", path != "/api/v1/quote")], (method, path)
