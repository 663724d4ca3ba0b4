"""The card back office: scoped pages, step forms, barcodes, printing (D1–D6, B1, B2)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from tests.factories import StoreFactory, staff_user

from tessera.cards import services
from tessera.cards.models import Card, CardBatch, CardStatus
from tessera.cards.tests.helpers import active_card, stock_card

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned_card(merchant, points_type, finance, finance2, admin_user, store):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1, actor=finance)
    services.initialise_batch(batch=batch, actor=finance2)
    services.assign_to_store(batch=batch, store=store, actor=admin_user)
    return batch.cards.get()


def test_staff_of_another_merchant_get_404_on_card_pages_and_barcodes_A1(
    client, merchant, other_merchant, points_type
):
    card = active_card(points_type)
    batch = card.batch
    client.force_login(staff_user(other_merchant, "merchant_admin").user)

    for url in [
        reverse("admin:cards_card_change", args=[card.pk]),
        reverse("admin:cards_card_barcode", args=[card.pk, "svg"]),
        reverse("admin:cards_card_qr", args=[card.pk, "png"]),
        reverse("admin:cards_card_report_lost", args=[card.pk]),
        reverse("admin:cards_cardbatch_change", args=[batch.pk]),
        reverse("admin:cards_cardbatch_sheet", args=[batch.pk]),
        reverse("admin:cards_cardbatch_csv", args=[batch.pk]),
    ]:
        assert client.get(url).status_code in (403, 404), url
    assert client.get(reverse("admin:cards_card_change", args=[card.pk])).status_code == 404
    assert client.get(reverse("admin:cards_card_barcode", args=[card.pk, "svg"])).status_code == 404
    listing = client.get(reverse("admin:cards_card_changelist"))
    assert card.number not in listing.content.decode()


def test_card_page_shows_barcode_qr_and_events_D2(client, merchant, points_type, admin_user):
    card = active_card(points_type)
    client.force_login(admin_user)

    page = client.get(reverse("admin:cards_card_change", args=[card.pk]))
    svg = client.get(reverse("admin:cards_card_barcode", args=[card.pk, "svg"]))
    png = client.get(reverse("admin:cards_card_qr", args=[card.pk, "png"]))

    assert page.status_code == 200
    html = page.content.decode()
    assert reverse("admin:cards_card_barcode", args=[card.pk, "svg"]) in html
    assert [e.kind for e in page.context["card_events"]] == ["activated", "generated"]
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert client.get(reverse("admin:cards_card_qr", args=[card.pk, "gif"])).status_code == 404


def test_store_scoped_staff_see_their_stores_cards_and_merchant_wide_ones_B2(
    client, merchant, assigned_card, points_type, store2
):
    merchant_wide = stock_card(points_type)
    other_store_staff = staff_user(merchant, "cashier", stores=[store2])
    client.force_login(other_store_staff.user)

    assert client.get(reverse("admin:cards_card_change", args=[assigned_card.pk])).status_code == 404
    assert client.get(reverse("admin:cards_card_change", args=[merchant_wide.pk])).status_code == 200
    assert set(Card.objects.visible_to(other_store_staff)) == {merchant_wide}


def test_a_cashier_sells_through_the_sell_page_and_a_manager_confirms_D4(
    client, merchant, assigned_card, cashier, manager
):
    client.force_login(cashier)
    sell_url = reverse("admin:cards_card_sell", args=[assigned_card.pk])
    assert client.get(sell_url).status_code == 200
    response = client.post(
        sell_url,
        # Typed the Vietnamese way (issue 14): 100.000 đồng, not 100.
        {"phone": "0903 123 456", "payment_method": "cash", "invoice_number": "HD-7", "amount": "100.000"},
    )
    assert response.status_code == 302
    assigned_card.refresh_from_db()
    assert assigned_card.status == CardStatus.SOLD and assigned_card.amount == 100_000

    # The seller is not offered (nor allowed) the confirmation.
    assert client.get(reverse("admin:cards_card_confirm", args=[assigned_card.pk])).status_code == 403

    client.force_login(manager)
    confirm_page = client.get(reverse("admin:cards_card_confirm", args=[assigned_card.pk])).content.decode()
    assert "100.000\xa0₫" in confirm_page  # the amount sold for, formatted
    same = client.post(reverse("admin:cards_card_confirm", args=[assigned_card.pk]), {"note": ""})
    assert same.status_code == 302
    assigned_card.refresh_from_db()
    assert assigned_card.status == CardStatus.ACTIVE


def test_a_refused_step_shows_the_reason_and_changes_nothing_D4(client, merchant, assigned_card, admin_user):
    client.force_login(admin_user)  # admin assigned the card: the sale must be someone else's
    response = client.post(
        reverse("admin:cards_card_sell", args=[assigned_card.pk]),
        {"phone": "0903 123 456", "payment_method": "cash", "invoice_number": "HD-7", "amount": "1"},
    )
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] != []
    assigned_card.refresh_from_db()
    assert assigned_card.status == CardStatus.ASSIGNED


def test_finance_generates_a_batch_and_downloads_pdf_and_csv_D3_D6(client, merchant, points_type, finance):
    client.force_login(finance)
    response = client.post(
        reverse("admin:cards_cardbatch_generate"),
        {"card_type": points_type.pk, "quantity": "12", "number_prefix": ""},
    )
    assert response.status_code == 302
    batch = CardBatch.objects.of(merchant).get()
    assert batch.cards.count() == 12

    pdf = client.get(reverse("admin:cards_cardbatch_sheet", args=[batch.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf.content)) == 2  # 12 cards, 10 a page
    csv = client.get(reverse("admin:cards_cardbatch_csv", args=[batch.pk]))
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 13
    assert lines[1].split(",")[:2] == [batch.first_number, f"TSR1:{batch.first_number}"]


def test_exports_need_the_export_permission_B1(client, merchant, points_type):
    batch = services.generate_batch(merchant=merchant, card_type=points_type, quantity=1)
    marketer = staff_user(merchant, "marketing").user
    client.force_login(marketer)
    assert client.get(reverse("admin:cards_cardbatch_csv", args=[batch.pk])).status_code in (403, 404)
    assert client.get(reverse("admin:cards_cardbatch_sheet", args=[batch.pk])).status_code in (403, 404)


def test_card_search_finds_by_number_as_typed_and_by_member_phone(client, merchant, points_type, admin_user):
    card = active_card(points_type, phone="0903 123 456")
    other = active_card(points_type, phone="0912 345 678")
    client.force_login(admin_user)
    url = reverse("admin:cards_card_changelist")

    by_phone = client.get(url, {"q": "0903123456"}).content.decode()
    by_number = client.get(url, {"q": f"{card.number[:4]} {card.number[4:]}"}).content.decode()

    assert card.number in by_phone and other.number not in by_phone
    assert card.number in by_number and other.number not in by_number


def test_list_filters_offer_only_the_merchants_stores(
    client, merchant, other_merchant, assigned_card, admin_user
):
    StoreFactory(merchant=other_merchant, name="Foreign Store")
    client.force_login(admin_user)
    html = client.get(reverse("admin:cards_card_changelist")).content.decode()
    assert "Foreign Store" not in html
