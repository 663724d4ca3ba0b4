"""Card numbers (D2): `<prefix><sequence><check digit>`, all digits, the check digit by Luhn.

The prefix (up to 8 digits) is chosen per card type or batch, the sequence is 8 digits drawn from a
per-merchant, per-prefix counter, and the Luhn digit catches a mistyped digit or two swapped ones.
Keyboard-wedge readers (magnetic stripe, IC, ID) type the number; printed cards carry it as a Code 128
barcode and in a QR payload (see `tessera.cards.selectors`).
"""

from __future__ import annotations

import re

SEQUENCE_DIGITS = 8
MAX_SEQUENCE = 10**SEQUENCE_DIGITS - 1

_SEPARATORS = re.compile(r"[\s\-]+")


def luhn_digit(payload: str) -> str:
    """The check digit that makes `payload + digit` pass the Luhn test."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_number(number: str) -> bool:
    """True for an all-digit number whose last digit is its Luhn check digit."""
    return (
        len(number) >= 2 and number.isascii() and number.isdigit() and luhn_digit(number[:-1]) == number[-1]
    )


def is_valid_prefix(prefix: str) -> bool:
    """Up to 8 ASCII digits (Unicode digits such as '١' are refused: readers and printers need 0-9)."""
    return len(prefix) <= 8 and prefix.isascii() and (prefix == "" or prefix.isdigit())


def compose_number(prefix: str, sequence: int) -> str:
    payload = f"{prefix}{sequence:0{SEQUENCE_DIGITS}d}"
    return payload + luhn_digit(payload)


def clean_number(raw: str) -> str:
    """What a person or a reader typed, without spaces and dashes: '8868 0000-0017' → '886800000017'."""
    return _SEPARATORS.sub("", raw)
