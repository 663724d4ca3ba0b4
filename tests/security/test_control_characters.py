"""Issue 12: control characters (NUL above all, which PostgreSQL refuses in text) are refused with a
clear answer, the same on SQLite and PostgreSQL, and nothing is written: 422 problem+json naming the
field in the API and on webhooks, a form error or a 400 on pages, a row error in the import's dry run.
Tab and line breaks stay allowed in multi-line text (notes)."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tessera.core.signing import signature_header
from tessera.imports import services as imports
from tessera.imports.models import ImportRowError, ImportState
from tessera.imports.tests.factories import csv_upload
from tessera.integrations import services as integrations
from tessera.integrations.models import InboundDelivery, Platform
from tessera.ledger.models import Entry
from tessera.marketing import services as marketing
from tessera.members.models import Member
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory, staff_user

pytestmark = pytest.mark.django_db

PHONE = "+84912345678"


@pytest.fixture
def till(merchant):
    """An API client with a store key, and a member with some points."""
    store = StoreFactory(merchant=merchant, code="q1")
    MemberFactory(merchant=merchant, phone=PHONE, full_name="Trần Thị Bình")
    issued = create_api_key(merchant=merchant, name="Till", store=store)
    return Client(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")


def post(client: Client, path: str, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1{path}",
        json.dumps(body),
        content_type="application/json",
        headers={"Idempotency-Key": str(uuid.uuid4()), **headers},
    )


def refused(response, *location: object) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The 422 problem+json of a control character at `location`."""
    assert response.status_code == 422, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["loc"] == list(location)
    assert body["errors"][0]["type"] == "control_characters"
    return body


# --- the API --------------------------------------------------------------------------------------------


def test_nul_in_member_name_is_refused_with_422_on_every_backend(till):
    response = post(till, "/members", {"phone": "0912000111", "full_name": "Nguyễn\x00An"})

    body = refused(response, "body", "full_name")
    assert "full_name" in body["detail"] and "U+0000" in body["errors"][0]["msg"]
    assert not Member.objects.filter(phone="+84912000111").exists()


def test_other_control_characters_in_a_name_are_refused_but_notes_keep_line_breaks_and_tabs(till):
    escape = post(till, "/members", {"phone": "0912000112", "full_name": "An\x1b[31m"})
    notes = post(till, "/members", {"phone": "0912000113", "full_name": "An", "notes": "Dị ứng:\r\n\tlạc"})

    refused(escape, "body", "full_name")
    assert notes.status_code == 201, notes.content
    assert Member.objects.get(phone="+84912000113").notes == "Dị ứng:\r\n\tlạc"
    assert not Member.objects.filter(phone="+84912000112").exists()


def test_nul_in_a_phone_is_refused_not_dropped_by_the_phone_parser(till):
    response = post(till, "/points/add", {"phone": "0912345678\x00", "points": 10})

    refused(response, "body", "phone")
    assert Entry.objects.count() == 0


def test_the_refusal_names_the_field_inside_lists(till):
    basket = {
        "phone": PHONE,
        "lines": [
            {"sku": "CF", "name": "Cà phê", "quantity": 1, "unit_price": 29000},
            {"sku": "TR", "name": "Trà\x00", "quantity": 1, "unit_price": 15000},
        ],
    }

    refused(post(till, "/transactions", basket), "body", "lines", 1, "name")


def test_a_control_character_in_a_json_key_is_refused(till):
    refused(post(till, "/members", {"phone": "0912000114", "full\x00name": "An"}), "body", "full\x00name")


@pytest.mark.parametrize("value", ["0912\x00", "0912\t345678", "0912345678\n"])
def test_control_characters_in_query_parameters_are_refused(till, value):
    response = till.get("/api/v1/members/lookup", {"phone": value})

    refused(response, "query", "phone")


def test_nul_in_a_path_part_is_refused_with_422_not_500(till):
    refused(till.get("/api/v1/cards/TSR%00123"), "path")


def test_a_control_character_in_a_header_is_refused_and_no_key_is_stored(till):
    from tessera.core.models import IdempotencyRecord

    response = post(till, "/points/add", {"phone": PHONE, "points": 10}, **{"Idempotency-Key": "k\x00ey"})

    refused(response, "header", "Idempotency-Key")
    assert IdempotencyRecord.objects.count() == 0 and Entry.objects.count() == 0


# --- webhooks in ----------------------------------------------------------------------------------------


@pytest.fixture
def shop(client, merchant):
    issued = integrations.create_connection(
        merchant=merchant, platform=Platform.SHOPIFY, name="Shopify", store=StoreFactory(merchant=merchant)
    )
    connection, secret = issued.obj, issued.secret

    def send(body: bytes):  # type: ignore[no-untyped-def]
        headers = {
            "X-Shopify-Topic": "customers/create",
            "X-Shopify-Hmac-Sha256": integrations.shop_signature(secret, body),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": timezone.now().isoformat(),
        }
        url = reverse("integrations:receive", args=[connection.token])
        return client.post(url, data=body, content_type="application/json", headers=headers)

    return send


CUSTOMER = {"id": 7001, "phone": "+84903111222", "first_name": "Lan", "last_name": "Nguyễn"}


def test_a_shop_webhook_with_nul_in_a_string_is_refused_and_nothing_is_written(shop):
    response = shop(json.dumps({**CUSTOMER, "first_name": "L\x00an"}).encode())

    refused(response, "body", "first_name")
    assert InboundDelivery.objects.count() == 0 and Member.objects.count() == 0


def test_a_shop_webhook_with_a_raw_nul_byte_is_refused_and_nothing_is_written(shop):
    response = shop(json.dumps(CUSTOMER).encode() + b"\x00")

    refused(response, "body")
    assert InboundDelivery.objects.count() == 0 and Member.objects.count() == 0


def test_a_clean_shop_webhook_still_goes_through(shop):
    response = shop(json.dumps({**CUSTOMER, "note": "Giao buổi sáng\nGọi trước"}).encode())

    assert response.status_code == 200, response.content
    assert Member.objects.filter(phone="+84903111222").exists()


def test_a_messaging_receipt_with_nul_is_refused_and_changes_nothing(client, merchant):
    row = marketing.settings_for(merchant)
    body = json.dumps({"receipts": [{"id": "prov-1", "status": "failed", "error": "off\x00"}]}).encode()
    header = signature_header(row.receipt_secret, body, int(time.time()))
    url = reverse("messaging_hooks:receipts", args=[row.receipt_token])

    response = client.post(
        url, data=body, content_type="application/json", headers={"Tessera-Signature": header}
    )

    refused(response, "body", "receipts", 0, "error")


# --- pages ----------------------------------------------------------------------------------------------


@pytest.fixture
def manager(client, merchant):
    store = StoreFactory(merchant=merchant, name="Quận 1")
    client.force_login(staff_user(merchant, "store_manager", stores=[store]).user)
    return client


@pytest.mark.parametrize("path", ["/admin/members/member/", "/staff/scan/lookup/", "/admin/tessera/cashier/"])
def test_nul_in_a_page_query_string_is_a_400_not_a_500(manager, path):
    response = manager.get(path, {"q": "09\x0012"})

    assert response.status_code == 400


def test_the_scanner_refuses_a_reason_with_nul_with_422_and_deducts_nothing(manager, merchant):
    member = MemberFactory(merchant=merchant, phone=PHONE)
    response = manager.post(
        reverse("scanner:deduct"),
        json.dumps({"member": member.pk, "points": 1, "reason": "Trả\x00"}),
        content_type="application/json",
        headers={"Idempotency-Key": "deduct-1"},
    )

    refused(response, "body", "reason")
    assert Entry.objects.count() == 0


def test_control_characters_in_the_member_form_are_a_form_error(manager, merchant):
    form = {
        "phone": "0903 123 456",
        "full_name": "Nguyễn\x0bVăn An",
        "gender": "",
        "anniversaries-TOTAL_FORMS": "0",
        "anniversaries-INITIAL_FORMS": "0",
        "anniversaries-MIN_NUM_FORMS": "0",
        "anniversaries-MAX_NUM_FORMS": "1000",
    }

    response = manager.post("/admin/members/member/add/", form)

    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors.as_data()["full_name"]
    assert error.code == "control_characters" and error.params == {"found": "U+000B"}
    assert not Member.objects.filter(merchant=merchant).exists()


def test_a_textarea_keeps_its_line_breaks(manager, merchant):
    form = {
        "phone": "0903 123 456",
        "full_name": "Nguyễn Văn An",
        "notes": "Dòng một\r\nDòng hai",
        "gender": "",
        "anniversaries-TOTAL_FORMS": "0",
        "anniversaries-INITIAL_FORMS": "0",
        "anniversaries-MIN_NUM_FORMS": "0",
        "anniversaries-MAX_NUM_FORMS": "1000",
    }

    response = manager.post("/admin/members/member/add/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Member.objects.get(merchant=merchant).notes == "Dòng một\r\nDòng hai"


def test_nul_in_a_portal_login_form_is_a_400_and_sends_no_code(client, merchant):
    from tessera.portal.models import LoginCode

    MemberFactory(merchant=merchant, phone="+84903123456")

    response = client.post(  # as a browser sends a form: urlencoded
        reverse("portal:login", kwargs={"slug": merchant.slug}),
        urlencode({"phone": "0903123456\x00"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert not LoginCode.objects.exists()


# --- imports --------------------------------------------------------------------------------------------


def test_an_import_cell_with_nul_is_a_row_error_in_the_dry_run_and_apply_never_meets_it(
    merchant, django_capture_on_commit_callbacks
):
    admin = staff_user(merchant, "merchant_admin").user
    rows = [
        ["Số điện thoại", "Họ tên", "Ghi\x00 chú"],
        ["0912000001", "Nguyễn Văn An", "ok"],
        ["0912000002", "Trần\x00Bình", ""],
        ["0912000003", "Lê Thu", "Gọi\x07 trước"],
    ]
    job = imports.upload_import(merchant=merchant, upload=csv_upload(rows), actor=admin)
    assert job.headers == ["Số điện thoại", "Họ tên", "GhiU+0000 chú"]  # stored: no NUL in the row
    with django_capture_on_commit_callbacks(execute=True):
        imports.check_import(
            job=job,
            mapping={"Số điện thoại": "phone", "Họ tên": "full_name", "GhiU+0000 chú": "notes"},
            mode="skip_bad_rows",
            duplicate_policy="skip",
            default_expiry=None,
            actor=admin,
        )
    job.refresh_from_db()

    assert job.state == ImportState.VALIDATED and (job.valid_rows, job.invalid_rows) == (1, 2)
    errors = ImportRowError.objects.filter(job=job).order_by("row")
    assert [(e.row, e.column, e.code, e.value) for e in errors] == [
        (3, "Họ tên", "control_characters", "TrầnU+0000Bình"),
        (4, "GhiU+0000 chú", "control_characters", "GọiU+0007 trước"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        imports.apply_import(job=job, actor=admin)
    job.refresh_from_db()

    assert job.state == ImportState.DONE and job.created_count == 1
    assert list(Member.objects.of(merchant).values_list("full_name", flat=True)) == ["Nguyễn Văn An"]
