"""Issue 12: numbers typed or sent as text are read as ASCII digits only. "²" is a digit to
`str.isdigit()` but `int("²")` raises, so an `isdigit()` check before `int()` answered 500; and `int()`
reads "١٢" (Arabic-Indic) as 12. Every place that reads a number from a request answers as for any
other wrong value instead."""

from __future__ import annotations

import json
import time

import pytest
from django.urls import reverse

from tessera.core.limits import parse_id, parse_json_int
from tessera.core.signing import signature_header
from tessera.ledger import services as ledger
from tessera.ledger.models import AccountKind, Entry, EntryKind
from tessera.marketing import services as marketing
from tessera.portal import services as portal
from tessera.portal.widget import sign
from tessera.rewards.models import PromoCode
from tessera.rewards.tests.factories import PromoCodeOfferFactory
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

SHOP = "https://shop.pho.example"
PHONE = "0903123456"


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("12", 12),
        (" 12 ", 12),
        (12, 12),
        ("²", None),
        ("١٢", None),
        ("0", None),
        ("-3", None),
        (True, None),
        (1.0, None),
        ("9" * 19, None),
        (2**53, None),
        ("", None),
        (None, None),
    ],
)
def test_ids_are_read_from_ascii_digits_or_json_integers_only(value, read):
    assert parse_id(value) == read


def test_json_integers_keep_their_sign_but_not_booleans():
    assert (parse_json_int(-5), parse_json_int("-5"), parse_json_int(False)) == (-5, -5, None)


# --- the widget ----------------------------------------------------------------------------------------


@pytest.fixture
def widget(merchant):
    created = portal.rotate_widget_secret(merchant=merchant)
    portal.update_widget_settings(widget=created.settings, allowed_origins=[SHOP], is_enabled=True)
    member = MemberFactory(merchant=merchant, phone="+84903123456")
    account = ledger.open_account(merchant=merchant, kind=AccountKind.POINTS, member=member)
    ledger.credit(account=account, amount=800, kind=EntryKind.BONUS, source="test")
    return created.secret


def widget_headers(secret: str, timestamp: str) -> dict[str, str]:
    return {
        "HTTP_ORIGIN": SHOP,
        "HTTP_X_WIDGET_PHONE": PHONE,
        "HTTP_X_WIDGET_TIMESTAMP": timestamp,
        "HTTP_X_WIDGET_TOKEN": sign(secret, PHONE, timestamp),
    }


def test_widget_timestamp_with_superscript_digit_is_refused(client, merchant, widget):
    url = reverse("portal:widget_me", kwargs={"slug": merchant.slug})

    response = client.get(url, **widget_headers(widget, "²"))
    arabic = client.get(url, **widget_headers(widget, "١٧٠٠٠٠٠٠٠٠"))

    assert response.status_code == arabic.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_widget_offer_given_in_non_ascii_digits_is_refused_and_spends_nothing(client, merchant, widget):
    offer = PromoCodeOfferFactory(merchant=merchant, points_cost=200)
    url = reverse("portal:widget_redeem", kwargs={"slug": merchant.slug})
    headers = widget_headers(widget, str(int(time.time())))

    answers = [
        client.post(url, json.dumps({"offer": raw}), content_type="application/json", **headers)
        for raw in ("²", "".join(chr(0x0660 + int(d)) for d in str(offer.pk)), True)
    ]

    assert [a.status_code for a in answers] == [422, 422, 422]
    assert not PromoCode.objects.exists()


# --- the scanner ---------------------------------------------------------------------------------------


@pytest.fixture
def manager(client, merchant):
    store = StoreFactory(merchant=merchant, name="Quận 1")
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    return client


def test_scanner_member_given_as_a_superscript_digit_is_not_found_not_500(manager):
    response = manager.post(
        reverse("scanner:add"),
        json.dumps({"member": "²", "amount": "50000"}),
        content_type="application/json",
        headers={"Idempotency-Key": "add-1"},
    )

    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
    assert Entry.objects.count() == 0


def test_scanner_points_given_as_a_superscript_digit_are_refused_not_500(manager, merchant):
    member = MemberFactory(merchant=merchant)
    response = manager.post(
        reverse("scanner:deduct"),
        json.dumps({"member": member.pk, "points": "²", "reason": "Sai"}),
        content_type="application/json",
        headers={"Idempotency-Key": "deduct-1"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "no_points"


# --- pages and webhooks --------------------------------------------------------------------------------


def test_superscript_digits_in_page_parameters_are_ignored_not_500(manager, merchant):
    member = MemberFactory(merchant=merchant)
    pages = [
        f"/admin/tessera/members/{member.pk}/?page=²",
        "/admin/tessera/cashier/?member=²",
        "/admin/members/member/?birthday_month=²",
        "/admin/members/member/?segment=²",
        "/admin/ledger/entry/?store=²",
    ]

    assert [manager.get(page).status_code for page in pages] == [200] * len(pages)


def test_superscript_digit_in_a_back_office_address_is_404_not_500(manager):
    assert manager.get("/admin/members/member/²/exclude/").status_code == 404


def test_a_messaging_receipt_with_a_superscript_reference_counts_as_unknown(client, merchant):
    row = marketing.settings_for(merchant)
    body = json.dumps({"id": "", "reference": "²", "status": "delivered"}).encode()
    header = signature_header(row.receipt_secret, body, int(time.time()))
    url = reverse("messaging_hooks:receipts", args=[row.receipt_token])

    response = client.post(
        url, data=body, content_type="application/json", headers={"Tessera-Signature": header}
    )

    assert response.status_code == 200
    assert response.json() == {"updated": 0, "unchanged": 0, "unknown": 1}


def test_import_points_in_digits_int_cannot_read_are_a_row_error_not_a_crash():
    from tessera.imports.fields import CellError, points

    with pytest.raises(CellError) as refused:
        points("\U00010a40")  # KHAROSHTHI DIGIT ONE: a digit to isdigit(), not to int()

    assert refused.value.code == "invalid_points"
