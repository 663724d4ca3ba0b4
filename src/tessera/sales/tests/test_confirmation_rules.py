"""Confirmation methods required per store and per amount (issue 15 §7), through the API.

The merchant's sales settings say which verifications confirm a sale and from which amount due or points
spent a sale needs one; a store's own rules (`StoreConfirmation`) replace them for its sales. A sale that
needs no verification may also be confirmed with `none`; one that does is refused with
`verification_required`, and a method switched off with `method_not_allowed`."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from tests.factories import staff_user

from tessera.sales import services
from tessera.sales.models import SalesSettings, StoreConfirmation
from tessera.sales.tests.conftest import PIN, Pos
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


def basket(amount: int) -> list[dict[str, Any]]:
    return [{"sku": "SET", "name": "Set", "quantity": 1, "unit_price": amount}]


def settings_of(merchant, **fields: Any) -> None:
    rules = SalesSettings.for_merchant(merchant)
    for name, value in fields.items():
        setattr(rules, name, value)
    rules.save()


def pending(pos: Pos, member, amount: int, points: int = 0) -> dict[str, Any]:
    created = pos.post(
        "/transactions", {"member_id": member.pk, "lines": basket(amount), "points_to_spend": points}
    )
    assert created.status_code == 201, created.content
    return created.json()


def confirm(pos: Pos, sale: dict[str, Any], method: str) -> Any:
    body: dict[str, Any] = {"method": method}
    if method == "pin":
        body["pin"] = PIN
    return pos.post(f"/transactions/{sale['id']}/confirm", body)


PIN_FROM_500K = {"confirm_with_otp": False, "confirm_with_staff": False, "verify_from_amount": 500000}


@pytest.mark.parametrize(
    ("rules", "amount", "points", "offered", "method", "status", "code"),
    [
        # PIN only from 500,000 đồng of amount due.
        (PIN_FROM_500K, 499999, 0, ["pin", "none"], "none", 200, None),
        (PIN_FROM_500K, 499999, 0, ["pin", "none"], "pin", 200, None),
        (PIN_FROM_500K, 500000, 0, ["pin"], "none", 422, "verification_required"),
        (PIN_FROM_500K, 500000, 0, ["pin"], "pin", 200, None),
        (PIN_FROM_500K, 900000, 0, ["pin"], "otp", 422, "method_not_allowed"),
        # From 100 points spent, whatever the amount.
        ({**PIN_FROM_500K, "verify_from_points": 100}, 150000, 99, ["pin", "none"], "none", 200, None),
        (
            {**PIN_FROM_500K, "verify_from_points": 100},
            150000,
            100,
            ["pin"],
            "none",
            422,
            "verification_required",
        ),
        # Only the points threshold: the amount alone never asks for verification.
        (
            {**PIN_FROM_500K, "verify_from_amount": None, "verify_from_points": 1},
            900000,
            0,
            ["pin", "none"],
            "none",
            200,
            None,
        ),
        # No threshold: every sale is verified (as before issue 15).
        (
            {**PIN_FROM_500K, "verify_from_amount": None},
            1000,
            0,
            ["pin"],
            "none",
            422,
            "verification_required",
        ),
        # Every verification off: a plain confirmation.
        (
            {"confirm_with_pin": False, "confirm_with_otp": False, "confirm_with_staff": False},
            900000,
            0,
            ["none"],
            "none",
            200,
            None,
        ),
    ],
)
def test_merchant_rules_by_amount_and_points(
    pos, merchant, member, store, rules, amount, points, offered, method, status, code
):
    settings_of(merchant, **rules)
    if points:
        services.add_points(member=member, store=store, actor=None, points=points)

    sale = pending(pos, member, amount, points)
    answer = confirm(pos, sale, method)

    assert sale["confirm_methods"] == offered
    assert answer.status_code == status, answer.content
    if code:
        assert (answer.json()["code"], answer.json()["allowed"]) == (code, offered)
    else:
        assert (answer.json()["status"], answer.json()["confirm_methods"]) == ("confirmed", [])


@pytest.fixture
def pos2(merchant, store2):
    return Pos(create_api_key(merchant=merchant, name="POS 2", store=store2).raw_key)


def test_a_store_rules_replace_the_merchant_rules_for_its_sales(pos, pos2, merchant, member, store2):
    settings_of(merchant, **PIN_FROM_500K)
    StoreConfirmation.objects.create(
        merchant=merchant,
        store=store2,
        confirm_with_pin=False,
        confirm_with_otp=False,
        confirm_with_staff=True,
    )

    here, there = pending(pos, member, 100000), pending(pos2, member, 100000)

    assert (here["confirm_methods"], there["confirm_methods"]) == (["pin", "none"], ["staff"])
    refused = confirm(pos2, there, "pin")
    assert (refused.status_code, refused.json()["code"]) == (422, "method_not_allowed")
    refused = confirm(pos2, there, "none")
    assert (refused.status_code, refused.json()["code"]) == (422, "verification_required")
    assert confirm(pos, here, "none").status_code == 200


def test_a_store_may_need_no_verification_below_its_own_threshold(pos, pos2, merchant, member, store2):
    settings_of(merchant, **{**PIN_FROM_500K, "verify_from_amount": None})  # every sale needs a PIN
    StoreConfirmation.objects.create(
        merchant=merchant,
        store=store2,
        confirm_with_pin=True,
        confirm_with_otp=True,
        confirm_with_staff=False,
        verify_from_amount=1000000,
    )

    assert confirm(pos2, pending(pos2, member, 999999), "none").status_code == 200
    refused = confirm(pos, pending(pos, member, 999999), "none")
    assert (refused.status_code, refused.json()["code"]) == (422, "verification_required")


def test_a_code_is_not_sent_where_codes_do_not_confirm(pos2, merchant, member, store2):
    StoreConfirmation.objects.create(
        merchant=merchant,
        store=store2,
        confirm_with_pin=True,
        confirm_with_otp=False,
        confirm_with_staff=False,
    )
    sale = pending(pos2, member, 100000)

    refused = pos2.post(f"/transactions/{sale['id']}/otp")

    assert (refused.status_code, refused.json()["code"]) == (422, "method_not_allowed")


def test_a_change_of_store_rules_is_seen_by_the_next_request(pos, merchant, member, store):
    settings_of(merchant, **PIN_FROM_500K)
    assert pending(pos, member, 100000)["confirm_methods"] == ["pin", "none"]

    StoreConfirmation.objects.create(
        merchant=merchant,
        store=store,
        confirm_with_pin=False,
        confirm_with_otp=True,
        confirm_with_staff=False,
    )

    assert pending(pos, member, 100000)["confirm_methods"] == ["otp"]


def test_the_cashier_confirm_page_offers_only_the_allowed_methods(client, merchant, member, store):
    settings_of(merchant, **PIN_FROM_500K)
    client.force_login(staff_user(merchant, "cashier").user)
    small = services.create_transaction(
        merchant=merchant, store=store, member=member, lines=[services.SaleLine("Set", 1, 100000)]
    )
    large = services.create_transaction(
        merchant=merchant, store=store, member=member, lines=[services.SaleLine("Set", 1, 600000)]
    )

    small_page = client.get(reverse("backoffice:cashier_confirm", args=[small.pk])).content.decode()
    large_page = client.get(reverse("backoffice:cashier_confirm", args=[large.pk])).content.decode()

    assert 'id="confirm-pin"' in small_page and 'id="confirm-none"' in small_page
    assert 'id="confirm-pin"' in large_page and 'id="confirm-none"' not in large_page
    assert 'id="confirm-otp"' not in large_page and 'id="confirm-staff"' not in large_page
    posted = client.post(
        reverse("backoffice:cashier_confirm", args=[large.pk]), {"method": "none", "token": "x" * 32}
    )
    assert posted.status_code == 302
    large.refresh_from_db()
    assert large.status == "pending"


def test_store_rules_are_per_merchant_in_the_back_office(client, merchant, other_merchant, store):
    from tests.factories import StoreFactory

    theirs = StoreConfirmation.objects.create(
        merchant=other_merchant, store=StoreFactory(merchant=other_merchant, code="x"), confirm_with_pin=False
    )
    client.force_login(staff_user(merchant, "merchant_admin").user)

    listing = client.get(reverse("admin:sales_storeconfirmation_changelist"))
    foreign = client.get(reverse("admin:sales_storeconfirmation_change", args=[theirs.pk]))

    assert listing.status_code == 200
    assert foreign.status_code in (302, 404)


def test_the_back_office_saves_and_deletes_store_rules_through_the_services(client, merchant, store):
    """The page and the management API share the form and the services (issue 17): the store offered
    is the merchant's, the save is stamped and its history names the user, and a delete is recorded."""
    user = staff_user(merchant, "merchant_admin").user
    client.force_login(user)
    fields = {"store": store.pk, "confirm_with_staff": "on", "verify_from_amount": "200000"}

    added = client.post(reverse("admin:sales_storeconfirmation_add"), fields)

    assert added.status_code == 302, added.content.decode()[:500]
    rules = StoreConfirmation.objects.get(store=store)
    assert (rules.confirm_with_pin, rules.confirm_with_staff, rules.verify_from_amount) == (
        False,
        True,
        200000,
    )
    assert (rules.created_by, rules.history.latest().history_user) == (user, user)
    deleted = client.post(reverse("admin:sales_storeconfirmation_delete", args=[rules.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert not StoreConfirmation.objects.exists()
    assert StoreConfirmation.history.latest().history_type == "-"
