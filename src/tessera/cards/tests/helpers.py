"""Small builders for card tests."""

from __future__ import annotations

from typing import Any

from tessera.cards import services
from tessera.cards.models import Card, CardType


def stock_card(card_type: CardType, **batch: Any) -> Card:
    """One anonymous card fresh from a batch."""
    generated = services.generate_batch(merchant=card_type.merchant, card_type=card_type, quantity=1, **batch)
    return Card.objects.get(batch=generated)


def active_card(card_type: CardType, phone: str = "0903 123 456", **activation: Any) -> Card:
    """A card activated by the system for the member with `phone` (registered if new)."""
    return services.activate_card(card=stock_card(card_type), phone=phone, **activation)
