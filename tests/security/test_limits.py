"""Issue 12, numbers without bounds: every number the API accepts is held to the documented limits
(core.limits, docs/pos-api.md "Limits") with a 422 naming the field and the limit; balances have a
ceiling backed by a check constraint; sums that can pass 63 bits are numeric, so no answer is a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from tessera.core.limits import (
    MAX_AMOUNT,
    MAX_BALANCE,
    MAX_DAYS_AHEAD,
    MAX_DAYS_BACK,
    MAX_LINE_AMOUNT,
    MAX_POINTS,
    MAX_SAFE_INTEGER,
    MAX_SALE_AMOUNT,
    MAX_TAGS,
)
from tessera.ledger import services as ledger
from tessera.ledger.models import Account, AccountKind, Entry, EntryKind
from tessera.ledger.selectors import verify_ledger
from tessera.members.models import Member, Tag
from tessera.sales.models import Transaction
from tessera.sales.tests.conftest import Pos, active_card
from tessera.tenancy.services import create_api_key
from tessera.tiers.tests.factories import program
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

PHONE = "+84903123456"


@pytest.fixture
def store(merchant):
    return StoreFactory(merchant=merchant, code="hoan-kiem")


@pytest.fixture
def member(merchant):
    return MemberFactory(merchant=merchant, phone=PHONE, full_name="Nguyễn Văn An")


@pytest.fixture
def pos(merchant, store, member):
    return Pos(create_api_key(merchant=merchant, name="POS 1", store=store).raw_key)


def _refused(response, field: str) -> str:
    """The 422 problem's messages about `field` (its last location part), joined."""
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    messages = [e["msg"] for e in body.get("errors", []) if field in [str(p) for p in e["loc"]]]
    assert messages, body
    return " ".join(messages)


def _points(member) -> int:
    account = Account.objects.filter(member=member, kind=AccountKind.POINTS).first()
    return account.balance if account else 0


def _basket(**line):
    return {"phone": PHONE, "lines": [{"name": "Phở bò", "quantity": 1, "unit_price": 65000, **line}]}


# --- points -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("points", [2**63, 2**62, MAX_POINTS + 1])
def test_points_add_over_the_maximum_is_refused_with_the_limit(pos, member, points):
    response = pos.post("/points/add", {"phone": PHONE, "points": points})

    assert f"{MAX_POINTS}" in _refused(response, "points")
    assert _points(member) == 0


def test_points_deduct_over_the_maximum_is_refused_with_the_limit(pos, member):
    response = pos.post("/points/deduct", {"phone": PHONE, "points": 2**63, "reason": "typo"})

    assert f"{MAX_POINTS}" in _refused(response, "points")


def test_amount_spent_over_the_sale_limit_is_refused(pos, member):
    response = pos.post("/points/add", {"phone": PHONE, "amount_spent": 2**62})

    assert f"{MAX_SALE_AMOUNT}" in _refused(response, "amount_spent")
    assert not Entry.objects.exists()


def test_points_add_past_the_balance_ceiling_is_refused_before_the_database(pos, member):
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=MAX_BALANCE - 5, kind=EntryKind.ADJUST)

    response = pos.post("/points/add", {"phone": PHONE, "points": 10})

    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["limit"], body["requested"]) == ("balance_limit", MAX_BALANCE, 10)
    assert _points(member) == MAX_BALANCE - 5
    assert pos.post("/points/add", {"phone": PHONE, "points": 5}).status_code == 201
    assert _points(member) == MAX_BALANCE
    assert verify_ledger() == []


def test_the_database_refuses_a_balance_over_the_ceiling(member):
    account = ledger.open_account(merchant=member.merchant, kind=AccountKind.POINTS, member=member)

    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance=MAX_BALANCE + 1)


def test_stored_value_top_up_over_the_maximum_and_past_the_ceiling_is_refused(pos, member):
    card = active_card(member, kind="stored_value")
    top_up = {"card_code": card.number, "payment_method": "cash"}

    over = pos.post("/stored-value/top-ups", {**top_up, "amount": MAX_AMOUNT + 1})
    ledger.credit(account=Account.objects.get(pk=card.account_id), amount=MAX_BALANCE, kind=EntryKind.ADJUST)
    full = pos.post("/stored-value/top-ups", {**top_up, "amount": 1000})

    assert f"{MAX_AMOUNT}" in _refused(over, "amount")
    assert (full.status_code, full.json()["code"]) == (409, "balance_limit")
    assert Account.objects.get(pk=card.account_id).balance == MAX_BALANCE


# --- sales --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/quote", "/transactions"])
def test_a_line_over_the_line_limit_is_refused_by_quote_and_transactions(pos, member, path):
    response = pos.post(path, _basket(quantity=1_000_000, unit_price=MAX_AMOUNT))

    assert f"{MAX_LINE_AMOUNT:,}" in _refused(response, "lines")
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("path", ["/quote", "/transactions"])
def test_lines_totalling_more_than_the_sale_limit_are_refused(pos, member, path):
    line = {"name": "Vàng", "quantity": 1, "amount": MAX_LINE_AMOUNT, "unit_price": 1}
    response = pos.post(path, {"phone": PHONE, "lines": [line, line]})

    assert f"{MAX_SALE_AMOUNT:,}" in _refused(response, "data")
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"unit_price": 10**24}, "unit_price"),
        ({"quantity": 10**7}, "quantity"),
        ({"amount": 2**63}, "amount"),
    ],
)
def test_a_number_past_its_maximum_on_a_line_is_refused_naming_the_field(pos, member, line, field):
    assert _refused(pos.post("/transactions", _basket(**line)), field)


def test_a_sale_at_the_limits_is_accepted_and_answers_exact_numbers(pos, member):
    response = pos.post("/quote", _basket(quantity=10, unit_price=MAX_AMOUNT))

    assert response.status_code == 200, response.content
    assert response.json()["total_amount"] == MAX_LINE_AMOUNT <= MAX_SAFE_INTEGER


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/transactions", _basket(unit_price=True), "unit_price"),
        ("/transactions", _basket(quantity=True), "quantity"),
        ("/quote", {**_basket(), "points_to_spend": True}, "points_to_spend"),
        ("/points/add", {"phone": PHONE, "points": True}, "points"),
        ("/points/deduct", {"phone": PHONE, "points": False, "reason": "x"}, "points"),
    ],
)
def test_booleans_are_not_numbers(pos, member, path, body, field):
    assert "boolean" in _refused(pos.post(path, body), field)


# --- dates and tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "extra"), [("/points/add", {}), ("/points/deduct", {"reason": "typo"})])
@pytest.mark.parametrize("days", [-(MAX_DAYS_BACK + 1), MAX_DAYS_AHEAD + 1, -365 * 30])
def test_occurred_on_outside_the_documented_window_is_refused(pos, member, store, path, extra, days):
    today = timezone.localdate(timezone=store.tz)

    response = pos.post(
        path, {"phone": PHONE, "points": 5, "occurred_on": str(today + timedelta(days=days)), **extra}
    )

    body = response.json()
    assert (response.status_code, body["code"], body["field"]) == (
        422,
        "occurred_on_out_of_range",
        "occurred_on",
    )
    assert body["earliest"] == str(today - timedelta(days=MAX_DAYS_BACK))
    assert not Entry.objects.exists()


def test_occurred_on_at_the_edge_of_the_window_is_accepted(pos, member, store):
    yesterday = timezone.localdate(timezone=store.tz) - timedelta(days=1)

    response = pos.post("/points/add", {"phone": PHONE, "points": 5, "occurred_on": str(yesterday)})

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "birthday", ["1899-12-31", "2999-01-01", str(timezone.localdate() + timedelta(days=2))]
)
def test_a_birthday_in_the_future_or_before_1900_is_refused(pos, merchant, birthday):
    response = pos.post("/members", {"phone": "0912345678", "birthday": birthday})

    assert "birthday" in _refused(response, "birthday")
    assert not Member.objects.filter(phone="+84912345678").exists()


def test_a_birthday_can_be_corrected_to_a_plausible_one(pos, member):
    refused = pos.client.patch(
        f"/api/v1/members/{member.pk}", {"birthday": "1850-05-03"}, content_type="application/json"
    )
    accepted = pos.client.patch(
        f"/api/v1/members/{member.pk}", {"birthday": "1990-05-03"}, content_type="application/json"
    )

    assert _refused(refused, "birthday")
    assert (accepted.status_code, accepted.json()["birthday"]) == (200, "1990-05-03")


def test_at_most_max_tags_tags_in_one_request(pos, merchant):
    tags = [f"tag-{n}" for n in range(MAX_TAGS + 1)]

    response = pos.post("/members", {"phone": "0912345678", "tags": tags})

    assert f"{MAX_TAGS}" in _refused(response, "tags")
    assert not Tag.objects.filter(merchant=merchant).exists()


# --- sums wider than 63 bits --------------------------------------------------------------------------


def test_the_tier_page_answers_when_ranking_spend_passes_63_bits(pos, merchant, member, client):
    """Rows written before the limits existed (amount_spent = 2^62, twice, one partly returned) must
    not break the member's tier answer: the sums are numeric and the ranking is capped at 2^53 − 1."""
    program(merchant)
    account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    first = ledger.credit(account=account, amount=10**9, sale_amount=2**62)
    ledger.credit(account=account, amount=10**9, sale_amount=2**62)
    ledger.reverse(entry=first, amount=10**8)

    response = pos.get(f"/tiers/members/{member.pk}")

    assert response.status_code == 200, response.content
    assert response.json()["ranking"] == MAX_SAFE_INTEGER
    assert response.json()["earned_tier"]["code"] == "diamond"
