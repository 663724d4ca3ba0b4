"""D2: the POS finds a card by typed or wedge-read number, or by its scanned QR code."""

from __future__ import annotations

import pytest

from tessera.cards import selectors
from tessera.cards.tests.helpers import stock_card

pytestmark = pytest.mark.django_db


def test_find_card_accepts_the_number_as_typed_or_read_D2(merchant, points_type):
    card = stock_card(points_type)
    spaced = f" {card.number[:4]} {card.number[4:8]}-{card.number[8:]}\n"

    assert selectors.find_card(merchant=merchant, code=card.number) == card
    assert selectors.find_card(merchant=merchant, code=spaced) == card


def test_find_card_accepts_the_qr_payload_D2(merchant, points_type):
    card = stock_card(points_type)

    assert selectors.qr_payload(card) == f"TSR1:{card.number}"
    assert selectors.find_card(merchant=merchant, code=selectors.qr_payload(card)) == card
    assert selectors.find_card(merchant=merchant, code=f"tsr1:{card.number}") == card


def test_find_card_never_returns_another_merchants_card_A1(merchant, other_merchant, points_type):
    card = stock_card(points_type)

    assert selectors.find_card(merchant=other_merchant, code=card.number) is None
    assert selectors.find_card(merchant=other_merchant, code=selectors.qr_payload(card)) is None


def test_find_card_finds_nothing_for_unknown_or_empty_codes(merchant, points_type):
    stock_card(points_type)
    assert selectors.find_card(merchant=merchant, code="") is None
    assert selectors.find_card(merchant=merchant, code="TSR1:") is None
    assert selectors.find_card(merchant=merchant, code="1234567890") is None
