"""Money is an integer count of the currency's minor unit (VND: đồng, CNY: fen). Never a float."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: ISO 4217 code → (label, number of minor-unit digits).
CURRENCIES: dict[str, tuple[str | Promise, int]] = {
    "VND": (_("Vietnamese đồng"), 0),
    "CNY": (_("Chinese yuan"), 2),
    "USD": (_("US dollar"), 2),
    "HKD": (_("Hong Kong dollar"), 2),
    "SGD": (_("Singapore dollar"), 2),
    "THB": (_("Thai baht"), 2),
}
CURRENCY_CHOICES = [(code, f"{code} — {label}") for code, (label, _digits) in CURRENCIES.items()]


def minor_digits(currency: str) -> int:
    return CURRENCIES[currency][1]


def to_major(amount_minor: int, currency: str) -> Decimal:
    """12345 fen → Decimal('123.45'); 50000 đồng → Decimal('50000')."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))


def to_minor(amount_major: Decimal | str, currency: str) -> int:
    """Decimal('123.456') CNY → 12345 (rounded down, never up: we never invent money)."""
    quantum = Decimal(1).scaleb(-minor_digits(currency))
    return int(Decimal(amount_major).quantize(quantum, rounding=ROUND_DOWN).scaleb(minor_digits(currency)))


def format_money(amount_minor: int, currency: str) -> str:
    """In the active language's number format: 1.500.000 VND (vi), 1,500,000 VND (en), 15.00 CNY."""
    digits = minor_digits(currency)
    number = number_format(
        to_major(amount_minor, currency), decimal_pos=digits, use_l10n=True, force_grouping=True
    )
    return f"{number} {currency}"
