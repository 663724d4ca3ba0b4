"""D2, D3 through the POS API: look up a card, activate an anonymous one; never another merchant's."""

from __future__ import annotations

import pytest

from tessera.cards.models import CardStatus
from tessera.cards.tests.helpers import active_card, stock_card
from tessera.tenancy.services import create_api_key

pytestmark = pytest.mark.django_db


def bearer(merchant, store=None):
    return {
        "HTTP_AUTHORIZATION": f"Bearer {create_api_key(merchant=merchant, name='POS', store=store).raw_key}"
    }


def test_pos_looks_a_card_up_by_number_or_qr_payload_D2(client, merchant, points_type):
    card = active_card(points_type)

    by_number = client.get(f"/api/v1/cards/{card.number}", **bearer(merchant))
    by_qr = client.get(f"/api/v1/cards/TSR1:{card.number}", **bearer(merchant))

    assert by_number.status_code == 200
    body = by_number.json()
    assert body["number"] == card.number
    assert (body["status"], body["usable"], body["member_id"]) == ("active", True, card.member_id)
    assert body["type"]["name"] == "Thẻ tích điểm"
    assert body["balances"] == {"points": 0, "stored_value": None}
    assert by_qr.json() == body


def test_another_merchants_key_gets_404_for_the_card_A1(client, merchant, other_merchant, points_type):
    card = active_card(points_type)

    response = client.get(f"/api/v1/cards/{card.number}", **bearer(other_merchant))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "card_not_found"
    activate = client.post(
        f"/api/v1/cards/{card.number}/activate",
        {"phone": "0912 345 678"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
        **bearer(other_merchant),
    )
    assert activate.status_code == 404


def test_pos_activates_an_anonymous_card_for_a_phone_D3(client, merchant, points_type, store):
    card = stock_card(points_type)

    response = client.post(
        f"/api/v1/cards/{card.number}/activate",
        {"phone": "0903 123 456"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="activate-1",
        **bearer(merchant, store),
    )

    assert response.status_code == 200, response.content
    card.refresh_from_db()
    assert (card.status, str(card.member.phone), card.store) == (CardStatus.ACTIVE, "+84903123456", store)
    assert response.json()["member_id"] == card.member_id


def test_a_card_sold_under_control_is_not_activated_through_the_api_D4(client, merchant, prepaid_type):
    card = stock_card(prepaid_type)

    response = client.post(
        f"/api/v1/cards/{card.number}/activate",
        {"phone": "0903 123 456"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="activate-2",
        **bearer(merchant),
    )

    assert response.status_code == 409
    assert response.json()["code"] == "sale_required"
    card.refresh_from_db()
    assert card.member_id is None
