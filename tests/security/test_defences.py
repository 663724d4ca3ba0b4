"""Issue 7 security checks: guessing is limited (B4 staff login, E2 member PIN and one-time code),
secrets are stored only as hashes, and a whole POS flow logs no personal data even at DEBUG."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest
from django.test import Client

from tessera.members.models import Member
from tessera.members.services import set_member_pin
from tessera.points.services import save_policy
from tessera.sales.models import SalesSettings, Transaction
from tessera.tenancy.models import ApiKey
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

PHONE, LOCAL_PHONE, NAME, PIN = "+84912345678", "0912345678", "Trần Thị Bình", "1357"


@pytest.fixture
def till(merchant):  # type: ignore[no-untyped-def]
    store = StoreFactory(merchant=merchant, code="q1")
    save_policy(merchant=merchant, pending_days=0)
    member = MemberFactory(merchant=merchant, phone=PHONE, full_name=NAME)
    set_member_pin(member=member, pin=PIN)
    issued = create_api_key(merchant=merchant, name="Till", store=store)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")

    def post(path: str, body: dict) -> dict:  # type: ignore[type-arg]
        response = client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return {**response.json(), "http": response.status_code}

    post("/points/add", {"phone": PHONE, "points": 100})
    rules = SalesSettings.for_merchant(merchant)
    return {"post": post, "client": client, "member": member, "issued": issued, "rules": rules}


def _sale(till) -> int:  # type: ignore[no-untyped-def]
    basket = {
        "phone": PHONE,
        "lines": [{"sku": "CF", "name": "Cà phê", "quantity": 1, "unit_price": 29000}],
        "points_to_spend": 10,
    }
    created = till["post"]("/transactions", basket)
    assert created["http"] == 201, created
    return created["id"]


def test_b4_staff_login_locks_after_five_wrong_passwords(client, merchant):
    staff_user(merchant, "cashier", username="lan")
    for _ in range(5):
        client.post("/admin/login/", {"username": "lan", "password": "wrong"})

    locked = client.post("/admin/login/", {"username": "lan", "password": "correct horse battery staple"})

    assert locked.status_code == 429


def test_e2_wrong_pins_lock_the_sale_and_then_the_member(till):
    limit = till["rules"].confirm_attempt_limit
    sale = _sale(till)
    answers = [
        till["post"](f"/transactions/{sale}/confirm", {"method": "pin", "pin": "0000"}) for _ in range(limit)
    ]
    assert [a["code"] for a in answers] == ["wrong_pin"] * limit
    assert answers[-1]["attempts_left"] == 0

    # Even the right PIN no longer works on this sale...
    right = till["post"](f"/transactions/{sale}/confirm", {"method": "pin", "pin": PIN})
    assert (right["http"], right["code"]) == (423, "confirmation_locked")
    # ...nor on a fresh sale for the same member: guessing cannot continue by starting new sales.
    again = till["post"](f"/transactions/{_sale(till)}/confirm", {"method": "pin", "pin": PIN})
    assert (again["http"], again["code"], again["scope"]) == (423, "confirmation_locked", "member")
    assert Transaction.objects.get(pk=sale).status == "pending"


def test_e2_wrong_one_time_codes_are_limited_too(till, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    limit = till["rules"].confirm_attempt_limit
    sale = _sale(till)
    assert till["post"](f"/transactions/{sale}/otp", {})["http"] == 200
    text = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"]
    (code,) = re.findall(r"\b\d{6}\b", text)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(limit):
        assert (
            till["post"](f"/transactions/{sale}/confirm", {"method": "otp", "otp": wrong})["code"]
            == "wrong_otp"
        )

    right = till["post"](f"/transactions/{sale}/confirm", {"method": "otp", "otp": code})

    assert (right["http"], right["code"]) == (423, "confirmation_locked")


def test_secrets_are_stored_only_as_hashes(till, settings, tmp_path):
    settings.SMS_BACKEND, settings.VAR_DIR = "file", tmp_path
    raw = till["issued"].raw_key
    secret = raw.split("_", 2)[2]
    key = ApiKey.objects.get(pk=till["issued"].key.pk)
    stored_key = " ".join(str(v) for v in ApiKey.objects.filter(pk=key.pk).values().get().values())
    assert secret not in stored_key and raw not in stored_key
    assert len(key.hashed_secret) == 64  # a SHA-256 digest, compared in constant time

    pin_hash = Member.objects.get(pk=till["member"].pk).pin_hash
    # A keyed hash (HMAC with the server's secret and a per-member salt), never the PIN itself.
    assert PIN not in pin_hash and pin_hash.startswith("hmac-sha256$") and len(pin_hash.split("$")[2]) == 64

    sale = _sale(till)
    till["post"](f"/transactions/{sale}/otp", {})
    text = json.loads((tmp_path / "sms.log").read_text().splitlines()[-1])["text"]
    (code,) = re.findall(r"\b\d{6}\b", text)
    assert code not in Transaction.objects.get(pk=sale).otp_hash


def test_a_pos_flow_logs_no_personal_data_even_at_debug(till, caplog, settings):
    """The default SMS backend logs; it must not log the phone, and never the code outside DEBUG."""
    settings.SMS_BACKEND = "console"
    caplog.set_level(logging.DEBUG)
    post, client = till["post"], till["client"]

    client.get("/api/v1/lookup", {"phone": LOCAL_PHONE})
    sale = _sale(till)
    post(f"/transactions/{sale}/otp", {})
    post(f"/transactions/{sale}/confirm", {"method": "pin", "pin": "0000"})
    post(f"/transactions/{sale}/confirm", {"method": "pin", "pin": PIN})
    post("/points/deduct", {"phone": PHONE, "points": 1, "reason": "Correction"})
    client.get("/api/v1/lookup", {"phone": "0999999999"})  # a 404 is logged as a warning
    otp_hash_gone = Transaction.objects.get(pk=sale).otp_hash == ""

    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "the flow logged nothing: the capture is not working"
    for personal in (PHONE, PHONE[3:], LOCAL_PHONE, LOCAL_PHONE[1:], NAME, PIN):
        assert personal not in logged, f"{personal!r} appeared in the logs"
    assert otp_hash_gone
    assert not re.search(r"\b\d{6}\b", logged), "a one-time code appeared in the logs"
