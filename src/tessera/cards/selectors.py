"""Reads of cards: what the POS, scanner, API and admin look up.

QR payload: a card's QR code holds ``TSR1:<number>`` — the fixed tag ``TSR1`` (Tessera card, format 1),
a colon, and the card number exactly as printed under the barcode. The tag lets a scanner tell a card
from any other QR code; the merchant is never in the payload, it always comes from who is asking
(API key, staff user), so a code printed by one merchant finds nothing at another.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from tessera.cards.balances import with_card_accounts
from tessera.cards.models import Card, CardBatch
from tessera.cards.numbering import clean_number
from tessera.ledger.models import Account, AccountKind
from tessera.tenancy.models import Merchant

QR_TAG = "TSR1:"


def batch_cards(batches: QuerySet[CardBatch]) -> QuerySet[Card]:
    """The current cards of these batches in print order (batch, then number): the PDF sheet and CSV."""
    return (
        Card.objects.filter(batch__in=batches, recycled_at__isnull=True)
        .select_related("type", "store", "batch")
        .order_by("batch_id", "number")
    )


def qr_payload(card: Card) -> str:
    return f"{QR_TAG}{card.number}"


def number_from_code(code: str) -> str:
    """The card number in a typed or wedge-read number, or in a scanned QR payload."""
    text = code.strip()
    if text[: len(QR_TAG)].upper() == QR_TAG:
        text = text[len(QR_TAG) :]
    return clean_number(text)


def find_card(*, merchant: Merchant | int, code: str, with_accounts: bool = False) -> Card | None:
    """The merchant's current card for a typed number or a scanned QR payload, whatever its status.

    Callers that are about to use the card call `services.ensure_usable(card)` (lost, blocked and
    stock cards are refused there). Archived rows of recycled numbers are never returned.
    `with_accounts`: read with the accounts of `balances.with_card_accounts`, in the same statement.
    """
    number = number_from_code(code)
    if not number:
        return None
    cards = (
        Card.objects.of(merchant)
        .filter(number=number, recycled_at__isnull=True)
        .select_related("type", "member", "account", "store", "parent")
    )
    return (with_card_accounts(cards) if with_accounts else cards).first()


@dataclass(frozen=True)
class CardBalances:
    """What a card holds: the member's points (None when no member) and the card family's stored value."""

    points: int | None
    stored_value: int | None


def card_balances(card: Card) -> CardBalances:
    points = None
    if card.member_id is not None:
        points = sum(
            Account.objects.filter(
                merchant_id=card.merchant_id, member_id=card.member_id, kind=AccountKind.POINTS
            ).values_list("balance", flat=True)
        )
    stored_value = None
    if card.account_id is not None:
        stored_value = Account.objects.filter(pk=card.account_id).values_list("balance", flat=True).first()
    return CardBalances(points=points, stored_value=stored_value)
