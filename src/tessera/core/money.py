"""Money is an integer count of the currency's minor unit (VND: đồng, CNY: fen). Never a float.

Typed money — the cashier, the scanner, the add-points and top-up forms — is read by one function,
`parse_money`, by the currency's minor digits and the language of the screen (docs/user-guide.md,
"Typing amounts"):

- a currency without a minor unit (VND): ".", "," and spaces all group thousands; "150.000",
  "150,000", "150 000" and "150000" are the same 150.000 đồng; a fraction ("150.5") is refused;
- a currency with a minor unit (CNY, USD): the language names the decimal mark — "," in Vietnamese,
  "." in English and Chinese — and the other mark (or a space) groups thousands. Text that only reads
  the other way ("12.5" on a Vietnamese screen, "5.352,00" on an English one) is read that way, since
  it can mean nothing else; text whose language reading has more decimals than the currency has while
  the other reading is a whole amount ("1,234" yuan on a Vietnamese screen: 1,234 yuan or 1.234 yuan?)
  is refused with both readings shown;
- groups after the first have exactly three digits; full-width digits and marks (typed with a Chinese
  input method) count as their ASCII forms; the currency's own symbol or code around the number is
  ignored. Negative amounts, empty or other text, and amounts over the bound are refused.

Bounds: from 0 to `maximum` minor units (default `core.limits.MAX_AMOUNT`); text of at most
`MAX_TEXT` characters. Every refusal is an `AmountError` (a `ValidationFailed`) with a stable code:
`invalid_amount`, `negative_amount`, `too_many_decimals`, `amount_over_limit`, `ambiguous_amount`.
Machine input — JSON numbers from shops' webhooks — is not typed money and does not come here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from tessera.core.errors import ValidationFailed
from tessera.core.limits import MAX_AMOUNT

#: ISO 4217 code → (label, number of minor-unit digits).
CURRENCIES: dict[str, tuple[str | Promise, int]] = {
    "VND": (gettext_lazy("Vietnamese đồng"), 0),
    "CNY": (gettext_lazy("Chinese yuan"), 2),
    "USD": (gettext_lazy("US dollar"), 2),
    "HKD": (gettext_lazy("Hong Kong dollar"), 2),
    "SGD": (gettext_lazy("Singapore dollar"), 2),
    "THB": (gettext_lazy("Thai baht"), 2),
}
CURRENCY_CHOICES = [(code, f"{code} — {label}") for code, (label, _digits) in CURRENCIES.items()]

#: What may stand beside a typed amount and is ignored: the code and the symbols people copy.
_SYMBOLS: dict[str, tuple[str, ...]] = {
    "VND": ("VND", "₫", "đ", "Đ"),
    "CNY": ("CNY", "RMB", "CN¥", "¥", "元"),
    "USD": ("USD", "US$", "$"),
    "HKD": ("HKD", "HK$", "$"),
    "SGD": ("SGD", "S$", "$"),
    "THB": ("THB", "฿"),
}
#: The longest text read as an amount (a trillion with grouping and decimals is 21 characters).
MAX_TEXT = 40


def minor_digits(currency: str) -> int:
    return CURRENCIES[currency][1]


def to_major(amount_minor: int, currency: str) -> Decimal:
    """12345 fen → Decimal('123.45'); 50000 đồng → Decimal('50000')."""
    return Decimal(amount_minor).scaleb(-minor_digits(currency))


def to_minor(amount_major: Decimal | str, currency: str) -> int:
    """Decimal('123.456') CNY → 12345 (rounded down, never up: we never invent money)."""
    quantum = Decimal(1).scaleb(-minor_digits(currency))
    return int(Decimal(amount_major).quantize(quantum, rounding=ROUND_DOWN).scaleb(minor_digits(currency)))


class AmountError(ValidationFailed):
    """Typed money that cannot be read. `code` is one of the five in the module docstring; an
    ambiguous amount carries its two `readings`, formatted, the language's reading first."""


def _decimal_mark(language: str | None = None) -> str:
    """The decimal mark typed on a screen in `language` (default: the active one)."""
    return "," if (language or get_language() or "en").lower().startswith("vi") else "."


@dataclass(frozen=True)
class _Reading:
    value: Decimal | None  # None: the text does not read this way
    decimals: int = 0  # digits after the decimal mark as typed


def _read(text: str, *, decimal: str | None, group: str) -> _Reading:
    """`text` (digits and marks only) read with `decimal` as the decimal mark (None: no decimals)
    and `group` or a space as the thousands mark (one of them, consistently)."""
    whole, fraction = text, ""
    if decimal is not None and decimal in text:
        whole, _sep, fraction = text.partition(decimal)
        if not fraction.isdigit():
            return _Reading(None)
    used = {mark for mark in (group, " ") if mark in whole}
    if len(used) > 1:
        return _Reading(None)
    if used:
        groups = whole.split(used.pop())
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            return _Reading(None)
        whole = "".join(groups)
    if not whole.isdigit():
        return _Reading(None)
    return _Reading(Decimal(f"{whole}.{fraction}" if fraction else whole), len(fraction))


def _clean(text: str, currency: str) -> str:
    # NFKC: full-width digits and marks (１５０，０００) and no-break spaces become ASCII.
    text = unicodedata.normalize("NFKC", text).strip()
    for symbol in sorted(_SYMBOLS.get(currency, (currency,)), key=len, reverse=True):
        if text.upper().startswith(symbol.upper()):
            text = text[len(symbol) :].strip()
        if text.upper().endswith(symbol.upper()):
            text = text[: -len(symbol)].strip()
    return re.sub(r"\s+", " ", text)


def _format(amount: Decimal | int, currency: str, language: str | None) -> str:
    # Function-level import: the formatting layer reads this module's currency table.
    from tessera.core.formatting import format_major

    major = amount if isinstance(amount, Decimal) else to_major(amount, currency)
    return format_major(major, currency, language)


def parse_money(text: str, currency: str, language: str | None = None, *, maximum: int = MAX_AMOUNT) -> int:
    """Typed money → minor units, by the rules of the module docstring, or `AmountError`."""
    digits = minor_digits(currency)
    cleaned = _clean(str(text)[: MAX_TEXT + 1], currency)
    if not cleaned:
        raise AmountError(_("Enter an amount."), code="invalid_amount")
    if cleaned[0] in "-−":
        raise AmountError(_("The amount cannot be negative."), code="negative_amount")
    if len(cleaned) > MAX_TEXT or not re.fullmatch(r"[0-9][0-9., ]*", cleaned):
        raise AmountError(
            _("Type the amount in figures, for example %(example)s.")
            % {"example": _format(Decimal(150_000), currency, language)},
            code="invalid_amount",
        )
    if digits == 0:
        group = re.search(r"[.,]", cleaned)
        chosen = _read(cleaned, decimal=None, group=group.group() if group else ",").value
        if chosen is None and re.fullmatch(r"[0-9 ]*[.,][0-9]{1,2}", cleaned):
            raise AmountError(
                _("This currency has no decimals: type whole amounts."), code="too_many_decimals"
            )
    else:
        mark = _decimal_mark(language)
        other = "." if mark == "," else ","
        ours = _read(cleaned, decimal=mark, group=other)
        theirs = _read(cleaned, decimal=other, group=mark)
        ours_fit = ours.value is not None and ours.decimals <= digits
        theirs_fit = theirs.value is not None and theirs.decimals <= digits
        if ours_fit or (theirs_fit and ours.value is None):
            chosen = ours.value if ours_fit else theirs.value
        elif theirs_fit:
            # "1,234" on a Vietnamese yuan screen: 1.234 yuan (a decimal too many) or 1,234 yuan?
            assert ours.value is not None and theirs.value is not None
            readings = [_format(ours.value, currency, language), _format(theirs.value, currency, language)]
            raise AmountError(
                _("“%(text)s” could be %(first)s or %(second)s: type it again so it reads one way.")
                % {"text": cleaned, "first": readings[0], "second": readings[1]},
                code="ambiguous_amount",
                readings=readings,
            )
        elif ours.value is not None or theirs.value is not None:
            raise AmountError(
                _("At most %(digits)s digits after the decimal mark.") % {"digits": digits},
                code="too_many_decimals",
            )
        else:
            chosen = None
    if chosen is None:
        raise AmountError(_("This is not an amount."), code="invalid_amount")
    amount = int(chosen.scaleb(digits))
    if amount > maximum:
        raise AmountError(
            _("The amount cannot be more than %(limit)s.") % {"limit": _format(maximum, currency, language)},
            code="amount_over_limit",
            limit=maximum,
        )
    return amount


class MoneyField(forms.CharField):
    """A form field for typed money, cleaned to minor units by `parse_money` in the active language.
    An amount below `minimum` is refused (0 by default: a form that needs a positive amount says 1)."""

    def __init__(self, *, currency: str, maximum: int = MAX_AMOUNT, minimum: int = 0, **kwargs: Any) -> None:
        self.currency, self.maximum, self.minimum = currency, maximum, minimum
        super().__init__(**kwargs)  # parse_money bounds the text (MAX_TEXT), not a length validator

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "autocomplete": "off", "data-money": self.currency})
        if getattr(widget, "input_type", "text") == "text":
            attrs["maxlength"] = str(MAX_TEXT)
        return attrs

    def prepare_value(self, value: Any) -> Any:
        # An amount in minor units (an initial value) is shown as the plain major figure, "1234.50",
        # which reads the same in every language and in a number box.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(to_major(value, self.currency))
        return value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            amount = parse_money(text, self.currency, maximum=self.maximum)
        except AmountError as exc:
            raise forms.ValidationError(str(exc), code=exc.code) from None
        if amount < self.minimum:
            raise forms.ValidationError(
                _("The amount must be at least %(minimum)s.")
                % {"minimum": _format(self.minimum, self.currency, None)},
                code="amount_under_minimum",
            )
        return amount
