"""Issue 12: the staff screens hold amounts and points to the documented limits (core.limits) and say so
in the staff's language — the scanner, the cashier screen, the add/deduct points pages and the member
form — instead of passing a number the database cannot store. Staff here read Vietnamese (the
merchant's language), so messages are checked by the field they stand on and the limit they name."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from tests.factories import staff_user

from tessera.backoffice.tests.shop import shop
from tessera.core.limits import MAX_AMOUNT, MAX_LINE_AMOUNT, MAX_POINTS, MAX_QUANTITY, MAX_SALE_AMOUNT
from tessera.ledger.models import Entry
from tessera.members.models import Member
from tessera.sales.models import Transaction

pytestmark = pytest.mark.django_db

CASHIER = reverse("backoffice:cashier")


@pytest.fixture
def till(merchant):
    return shop(merchant)


def _client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _digits(text: object) -> str:
    """A message with its number grouping taken out (10.000.000 in Vietnamese, 10,000,000 in English)."""
    return re.sub(r"(?<=\d)[.,\u00a0 ](?=\d{3})", "", str(text))


def _scan(client: Client, name: str, payload: dict) -> dict:
    response = client.post(
        reverse(f"scanner:{name}"),
        json.dumps(payload),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    return {**response.json(), "http": response.status_code}


def test_the_scanner_refuses_an_amount_over_the_sale_limit(till):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    answer = _scan(client, "add", {"member": till.member.pk, "amount": "1000000000000000"})

    assert (answer["http"], answer["code"], answer["limit"]) == (422, "amount_over_limit", MAX_SALE_AMOUNT)
    assert str(MAX_SALE_AMOUNT) in _digits(answer["detail"])
    assert not Entry.objects.exists()


def test_the_scanner_refuses_to_deduct_more_points_than_one_operation_may_move(till):
    client = _client(staff_user(till.merchant, "store_manager", stores=[till.store_a]))

    answer = _scan(client, "deduct", {"member": till.member.pk, "points": MAX_POINTS + 1, "reason": "typo"})

    assert (answer["http"], answer["code"]) == (422, "points_over_limit")
    assert str(MAX_POINTS) in _digits(answer["detail"])


def _basket(client: Client, till, **overrides: str) -> dict[str, str]:
    page = client.get(CASHIER, {"member": till.member.pk, "card": till.card.pk})
    token = re.search(r'name="token" value="([0-9a-f]{32})"', page.content.decode()).group(1)
    return {
        "token": token,
        "member": str(till.member.pk),
        "card": str(till.card.pk),
        "store": str(till.store_a.pk),
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-name": "Phở bò",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "45000",
        "points_to_spend": "",
        "stored_value_to_spend": "",
        "external_ref": "",
        "note": "",
        "action": "create",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field", "limit"),
    [
        ({"lines-0-unit_price": "1000000000000000"}, "unit_price", MAX_AMOUNT),
        ({"lines-0-quantity": str(MAX_QUANTITY + 1)}, "quantity", MAX_QUANTITY),
        (
            {"lines-0-quantity": str(MAX_QUANTITY), "lines-0-unit_price": "100000000"},
            "quantity",
            MAX_LINE_AMOUNT,
        ),
        ({"points_to_spend": str(2**63)}, "points_to_spend", MAX_POINTS),
    ],
)
def test_the_cashier_screen_refuses_numbers_over_the_limits(till, overrides, field, limit):
    client = _client(staff_user(till.merchant, "cashier", stores=[till.store_a]))

    response = client.post(CASHIER, _basket(client, till, **overrides))

    form = response.context["basket"] if field == "points_to_spend" else response.context["lines"].forms[0]
    assert response.status_code == 422
    assert str(limit) in _digits(form.errors[field])
    assert not Transaction.objects.exists()


def test_the_add_points_page_refuses_points_over_the_limit_and_dates_out_of_the_window(till):
    client = _client(staff_user(till.merchant, "store_manager", stores=[till.store_a]))
    form = {"member": till.member.pk, "store": till.store_a.pk}
    long_ago = timezone.localdate() - timedelta(days=400)

    too_many = client.post(reverse("admin:sales_add_points"), {**form, "points": MAX_POINTS + 1})
    too_old = client.post(reverse("admin:sales_add_points"), {**form, "points": 5, "occurred_on": long_ago})

    assert too_many.status_code == too_old.status_code == 200
    assert str(MAX_POINTS) in _digits(too_many.context["form"].errors["points"])
    assert too_old.context["form"].errors["occurred_on"]
    assert not Entry.objects.filter(account__member=till.member).exists()


@pytest.mark.parametrize("birthday", ["1899-12-31", str(timezone.localdate() + timedelta(days=2))])
def test_the_member_form_refuses_a_birthday_in_the_future_or_before_1900(merchant, birthday):
    client = _client(staff_user(merchant, "cashier"))
    management = {
        "anniversaries-TOTAL_FORMS": "0",
        "anniversaries-INITIAL_FORMS": "0",
        "anniversaries-MIN_NUM_FORMS": "0",
        "anniversaries-MAX_NUM_FORMS": "1000",
    }

    response = client.post(
        "/admin/members/member/add/",
        {"phone": "0903123456", "birthday": birthday, "gender": "", **management},
    )

    assert response.status_code == 200
    assert "1900" in str(response.context["adminform"].form.errors["birthday"])
    assert not Member.objects.of(merchant).exists()
