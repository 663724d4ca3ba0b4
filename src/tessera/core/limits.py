"""The documented bounds of every number and text the product accepts (docs/security.md, docs/pos-api.md).

Every number the API sends or accepts stays within 2^53 − 1, the largest integer JavaScript and most
generated clients hold exactly. Balances have a ceiling enforced by a check constraint, so the sums the
database keeps (balances, ranking spend) stay far from the 63-bit limit of its integer columns; report
sums that add many rows are computed as numeric.

Money is in the currency's minor unit (VND: đồng, CNY: fen). Quantities are whole units.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

#: JavaScript's Number.MAX_SAFE_INTEGER: no number in or out of the API exceeds it.
MAX_SAFE_INTEGER = 2**53 - 1

#: One unit price, one amount or one top-up: 1,000,000,000,000 minor units (a trillion đồng, ten
#: billion yuan).
MAX_AMOUNT = 10**12
#: Units on one sale line.
MAX_QUANTITY = 1_000_000
#: One line (quantity × unit price) and one whole sale: ten trillion minor units.
MAX_LINE_AMOUNT = 10**13
MAX_SALE_AMOUNT = 10**13
#: Lines on one sale.
MAX_LINES = 500
#: Points in one operation (earn, spend, add, deduct, adjust, transfer, gift price).
MAX_POINTS = 10**10
#: The most an account (points or stored value) may hold; a check constraint backs it.
MAX_BALANCE = 10**15
#: New tags one request may create; tags per member.
MAX_TAGS = 20
#: Labels (key: value) on one sale line, and the length of a label's key or value, a category, a SKU.
MAX_LABELS = 20
MAX_LABEL_LENGTH = 64
#: Days back a sale or points operation may be dated (`occurred_on`), and days ahead (clock skew).
MAX_DAYS_BACK = 366
MAX_DAYS_AHEAD = 1
#: Earliest birth year accepted.
MIN_BIRTH_YEAR = 1900

assert MAX_BALANCE < MAX_SAFE_INTEGER and MAX_SALE_AMOUNT < MAX_SAFE_INTEGER


def occurred_on_window(today: date) -> tuple[date, date]:
    """The first and last day a sale or points operation may be dated, `today` being the store's."""
    return today - timedelta(days=MAX_DAYS_BACK), today + timedelta(days=MAX_DAYS_AHEAD)


def _refuse_bool(value: Any) -> Any:
    """JSON `true` is not the number 1 (pydantic's lax mode would read it so)."""
    if isinstance(value, bool):
        raise ValueError("a number is required, not a boolean")
    return value


_NumberNotBool = BeforeValidator(_refuse_bool)

#: API field types: integers in their documented range, booleans refused. (The bounds come before the
#: validator, or pydantic leaves `minimum`/`maximum` out of the JSON schema.)
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT), _NumberNotBool]
LineAmount = Annotated[int, Field(ge=0, le=MAX_LINE_AMOUNT), _NumberNotBool]
SaleAmount = Annotated[int, Field(ge=0, le=MAX_SALE_AMOUNT), _NumberNotBool]
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY), _NumberNotBool]
Points = Annotated[int, Field(ge=0, le=MAX_POINTS), _NumberNotBool]
PositivePoints = Annotated[int, Field(gt=0, le=MAX_POINTS), _NumberNotBool]
Id = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER), _NumberNotBool]
#: A number of a configuration form (issue 17): the form checks its own bounds, this keeps it storable.
Whole = Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER), _NumberNotBool]


def _refuse_number(value: Any) -> Any:
    """Dates travel as ISO 8601 text: pydantic's lax mode would read 0 as 1970-01-01."""
    if isinstance(value, bool | int | float):
        raise ValueError("a date in ISO 8601 text is required, not a number")
    return value


#: API date types: ISO 8601 text only.
IsoDate = Annotated[date, BeforeValidator(_refuse_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_refuse_number)]

#: Characters never accepted in text: C0/C1 controls (NUL breaks PostgreSQL), except tab and line breaks
#: where a multi-line text allows them.
_LINE_BREAKS = {"\n", "\r", "\t"}
#: Unicode's control characters (category Cc) are exactly these 65 code points.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def control_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The control characters in `text` (as U+XXXX), line breaks and tabs allowed when `multiline`."""
    if not _CONTROL.search(text):  # the common case, without a look at each character (issue 16)
        return []
    return [
        f"U+{ord(char):04X}"
        for char in text
        if unicodedata.category(char) == "Cc" and not (multiline and char in _LINE_BREAKS)
    ]


def _refuse_controls(text: str) -> str:
    if found := control_characters(text):
        raise ValueError(f"control characters are not allowed ({', '.join(sorted(set(found)))})")
    return text


def _refuse_controls_multiline(text: str) -> str:
    if found := control_characters(text, multiline=True):
        raise ValueError(f"control characters are not allowed ({', '.join(sorted(set(found)))})")
    return text


#: API text types: one line (names, phones, codes) or several (notes), control characters refused.
Line = Annotated[str, AfterValidator(_refuse_controls)]
Text = Annotated[str, AfterValidator(_refuse_controls_multiline)]

#: A sale line's category and labels (issue 15 §4): at most MAX_LABELS labels, each key 1–64 and each
#: value 0–64 characters of one line. Keys and values are matched by earning rules as written.
Category = Annotated[str, Field(max_length=MAX_LABEL_LENGTH), AfterValidator(_refuse_controls)]
LabelKey = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_LENGTH), AfterValidator(_refuse_controls)]
LabelValue = Annotated[str, Field(max_length=MAX_LABEL_LENGTH), AfterValidator(_refuse_controls)]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_LABELS)]


def bounded_text(value: Any) -> str:
    """Text another system sent for a category or a label: stripped, without control characters, cut to
    MAX_LABEL_LENGTH characters."""
    return "".join(c for c in str(value).strip() if unicodedata.category(c) != "Cc")[:MAX_LABEL_LENGTH]


def bounded_labels(pairs: Any) -> dict[str, str]:
    """Labels from what another system sent (a shop's tags and properties), held to the API's bounds:
    pairs with an empty key are dropped, keys and values cut to MAX_LABEL_LENGTH characters without
    control characters, the first MAX_LABELS kept."""
    labels: dict[str, str] = {}
    for key, value in pairs:
        key, value = bounded_text(key), bounded_text(value)
        if key and key not in labels and len(labels) < MAX_LABELS:
            labels[key] = value
    return labels


def parse_ascii_int(raw: str | None) -> int | None:
    """An integer typed or sent as ASCII digits, else None: never `int()` on raw input ("²", "١٢")."""
    if raw is None:
        return None
    raw = raw.strip()
    body = raw[1:] if raw[:1] == "-" else raw
    if not body or len(body) > 18 or not (body.isascii() and body.isdigit()):
        return None
    return int(raw)


def parse_json_int(value: Any) -> int | None:
    """An integer sent in JSON as a number or as ASCII digits ("12") within ±(2^53 − 1), else None:
    `true`, 1.5, "²" and "١٢" are not integers."""
    if isinstance(value, bool):
        return None
    number = value if isinstance(value, int) else parse_ascii_int(value) if isinstance(value, str) else None
    return number if number is not None and abs(number) <= MAX_SAFE_INTEGER else None


def parse_id(value: Any) -> int | None:
    """A row id from a query string, a form, a path or JSON (ASCII digits or a JSON number), else None."""
    number = parse_json_int(value)
    return number if number is not None and number > 0 else None
