"""Issue 17: card types, card batches and the card lifecycle through the management API — the back
office's form and services behind it (same messages), `admin` scope only, another merchant's ids 404,
updates guarded by ETag / If-Match, every history row naming the key."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from tests.factories import staff_user
from tests.management_api import KeyClient

from tessera.cards.forms import CardTypeForm
from tessera.cards.models import Card, CardBatch, CardStatus, CardType
from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.tenancy.history import key_label
from tessera.tenancy.models import Scope

pytestmark = pytest.mark.django_db

GOLD = {"name": "Gold", "kind": "discount", "discount_percent": "10.00", "level": 2, "number_prefix": "77"}


@pytest.fixture
def admin(merchant):
    return KeyClient(merchant)


def test_a_card_type_is_created_read_listed_and_its_history_names_the_key_D1(admin):
    created = admin.post("/card-types", GOLD)

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["kind"], body["discount_percent"], body["level"]) == (
        "Gold",
        "discount",
        "10.00",
        2,
    )
    assert (body["number_prefix"], body["requires_sale"], body["is_active"]) == ("77", False, True)
    card_type = CardType.objects.get(pk=body["id"])
    assert card_type.history.get().history_change_reason == key_label(admin.key)
    read = admin.get(f"/card-types/{card_type.pk}")
    assert read.json() == body and read["ETag"] == created["ETag"]
    listed = admin.get("/card-types?limit=10").json()
    assert listed == {"items": [body], "count": 1}


def test_card_type_refusals_are_the_back_offices_messages(admin, merchant):
    CardTypeFactory(merchant=merchant, name="Gold")
    bad = {"name": "Gold", "kind": "discount", "number_prefix": "A1"}
    form = CardTypeForm(data={**bad, "level": 0}, instance=CardType(merchant=merchant))
    assert not form.is_valid()

    response = admin.post("/card-types", bad)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_fields"
    by_field = {tuple(e["loc"][1:]): e["msg"] for e in problem["errors"]}
    assert by_field == {(field,): " ".join(messages) for field, messages in form.errors.items()}
    assert set(by_field) == {("name",), ("number_prefix",), ("discount_percent",)}
    assert CardType.objects.filter(merchant=merchant).count() == 1


def test_an_update_needs_the_current_etag_428_412_then_200(admin, merchant):
    card_type = CardTypeFactory(merchant=merchant, name="Silver")
    tag = admin.get(f"/card-types/{card_type.pk}")["ETag"]

    missing = admin.patch(f"/card-types/{card_type.pk}", {"level": 3})
    changed = admin.patch(f"/card-types/{card_type.pk}", {"level": 3}, if_match=tag)
    stale = admin.patch(f"/card-types/{card_type.pk}", {"level": 4}, if_match=tag)

    assert (missing.status_code, missing.json()["code"]) == (428, "precondition_required")
    assert changed.status_code == 200 and changed.json()["level"] == 3
    assert changed["ETag"] != tag
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    card_type.refresh_from_db()
    assert card_type.level == 3
    assert card_type.history.first().history_change_reason == key_label(admin.key)


def test_a_back_office_change_makes_the_api_clients_etag_stale(admin, merchant):
    card_type = CardTypeFactory(merchant=merchant, name="Silver")
    tag = admin.get(f"/card-types/{card_type.pk}")["ETag"]
    CardType.objects.filter(pk=card_type.pk).update(benefits="Free coffee")

    response = admin.patch(f"/card-types/{card_type.pk}", {"level": 5}, if_match=tag)

    assert response.status_code == 412
    card_type.refresh_from_db()
    assert (card_type.level, card_type.benefits) == (0, "Free coffee")


def test_archiving_a_card_type_is_is_active_false(admin, merchant):
    card_type = CardTypeFactory(merchant=merchant, name="Old")
    tag = admin.get(f"/card-types/{card_type.pk}")["ETag"]

    response = admin.patch(f"/card-types/{card_type.pk}", {"is_active": False}, if_match=tag)

    assert response.status_code == 200 and response.json()["is_active"] is False
    refused = admin.post("/card-batches", {"card_type_id": card_type.pk, "quantity": 5})
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", "card_type"]


def test_a_batch_is_generated_listed_printed_and_exported_D3(admin, merchant):
    card_type = CardTypeFactory(merchant=merchant, number_prefix="8868")

    created = admin.post("/card-batches", {"card_type_id": card_type.pk, "quantity": 3, "note": "Tết"})

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["number"], body["quantity"], body["card_type_id"], body["note"]) == (
        1,
        3,
        card_type.pk,
        "Tết",
    )
    assert body["cards_by_status"] == {"generated": 3} and body["sheet_parts"] == 1
    batch = CardBatch.objects.get(pk=body["id"])
    assert Card.objects.filter(batch=batch, status=CardStatus.GENERATED).count() == 3
    read = admin.get(f"/card-batches/{batch.pk}").json()
    assert {k: v for k, v in read.items() if k != "created_at"} == {
        k: v for k, v in body.items() if k != "created_at"
    }
    assert admin.get("/card-batches").json()["count"] == 1
    pdf = admin.get(f"/card-batches/{batch.pk}/cards.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    beyond = admin.get(f"/card-batches/{batch.pk}/cards.pdf?part=2")
    assert (beyond.status_code, beyond.json()["code"]) == (404, "part_not_found")
    exported = admin.get(f"/card-batches/{batch.pk}/cards.csv")
    assert exported.status_code == 200 and exported["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [batch.first_number, rows[2][0], batch.last_number]


def test_a_batch_refused_by_the_back_offices_form(admin, merchant):
    card_type = CardTypeFactory(merchant=merchant)

    response = admin.post("/card-batches", {"card_type_id": card_type.pk, "quantity": 0})

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "quantity"]
    assert error["msg"] == "Ensure this value is greater than or equal to 1."
    assert not CardBatch.objects.exists()


def test_the_card_lifecycle_lost_found_replace_sub_card_recycle_D5(admin, merchant):
    card = active_card(CardTypeFactory(merchant=merchant))

    lost = admin.post(f"/cards/{card.number}/lost", {"note": "hotline"})
    again = admin.post(f"/cards/{card.number}/lost", {})
    found = admin.post(f"/cards/{card.number}/found", {})
    sub = admin.post(f"/cards/{card.number}/sub-cards")
    replaced = admin.post(f"/cards/{card.number}/replace", {"note": "damaged"})

    assert lost.status_code == 200 and lost.json()["status"] == "lost"
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert found.json()["status"] == "active"
    assert sub.status_code == 200 and sub.json()["main_card_number"] == card.number
    new = replaced.json()
    assert replaced.status_code == 200 and new["number"] != card.number
    assert new["member_id"] == card.member_id
    card.refresh_from_db()
    assert card.status == CardStatus.BLOCKED
    assert {h.history_change_reason for h in card.history.all()[:3]} == {key_label(admin.key)}
    refused = admin.post(f"/cards/{new['number']}/recycle", {})
    assert (refused.status_code, refused.json()["code"]) == (409, "has_sub_cards")
    recycled = admin.post(f"/cards/{sub.json()['number']}/recycle", {})
    assert recycled.status_code == 200 and recycled.json()["status"] == "initialised"


def _every_id_path(card_type: CardType, batch: CardBatch, card: Card) -> list[tuple[str, str, dict]]:
    return [
        ("get", f"/card-types/{card_type.pk}", {}),
        ("patch", f"/card-types/{card_type.pk}", {"level": 1}),
        ("get", f"/card-batches/{batch.pk}", {}),
        ("get", f"/card-batches/{batch.pk}/cards.pdf", {}),
        ("get", f"/card-batches/{batch.pk}/cards.csv", {}),
        ("post", f"/cards/{card.number}/lost", {}),
        ("post", f"/cards/{card.number}/found", {}),
        ("post", f"/cards/{card.number}/replace", {}),
        ("post", f"/cards/{card.number}/recycle", {}),
        ("post", f"/cards/{card.number}/sub-cards", {}),
    ]


def _call(client: KeyClient, method: str, path: str, body: dict):
    if method == "get":
        return client.get(path)
    if method == "patch":
        return client.patch(path, body, if_match="*")
    return client.post(path, body)


def test_another_merchants_admin_key_gets_404_for_every_id(merchant, other_merchant):
    card_type = CardTypeFactory(merchant=merchant)
    card = active_card(card_type)
    stranger = KeyClient(other_merchant)

    for method, path, body in _every_id_path(card_type, card.batch, card):
        response = _call(stranger, method, path, body)
        assert response.status_code == 404, (method, path, response.content)
    card.refresh_from_db()
    assert card.status == CardStatus.ACTIVE


def test_keys_without_the_admin_scope_get_403_and_read_only_keys_only_read(merchant, store):
    card_type = CardTypeFactory(merchant=merchant)
    card = active_card(card_type)
    paths = [*_every_id_path(card_type, card.batch, card), ("post", "/card-types", GOLD)]
    paths.append(("post", "/card-batches", {"card_type_id": card_type.pk, "quantity": 1}))
    till = KeyClient(merchant, Scope.POS, store=store)
    integration = KeyClient(merchant, Scope.INTEGRATION)
    reader = KeyClient(merchant, Scope.ADMIN_READ)

    for method, path, body in paths:
        for client in (till, integration):
            response = _call(client, method, path, body)
            assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope"), (
                path,
                client,
            )
        read = _call(reader, method, path, body)
        assert read.status_code == (200 if method == "get" else 403), (method, path)
    assert Card.objects.get(pk=card.pk).status == CardStatus.ACTIVE
    assert CardType.objects.filter(merchant=merchant).count() == 1


def test_the_back_office_card_type_page_uses_the_same_form(merchant):
    boss = staff_user(merchant, "merchant_admin")
    browser = Client()
    browser.force_login(boss.user)
    CardTypeFactory(merchant=merchant, name="Gold")

    page = browser.post("/admin/cards/cardtype/add/", {"name": "Gold", "kind": "points", "level": 0})

    assert page.status_code == 200  # the form again, with the message the API gives (in the staff's language)
    assert "Đã có loại thẻ với tên này." in page.content.decode()
    assert CardType.objects.filter(merchant=merchant).count() == 1
