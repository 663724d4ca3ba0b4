"""Message text: the variables a template may use, rendering, and what an SMS costs (I1, I2).

Templates are plain text with `{{ variable }}` placeholders from a fixed list; nothing else of a
template language is allowed (no tags, filters or attribute lookups), so a template can neither reach
data it should not nor break a send of 100,000 messages half-way. Substitution is one regular
expression, fast enough to render every recipient's own text while a campaign is queued.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from unidecode import unidecode

from tessera.core.errors import ValidationFailed

#: Every variable a template may use, with what it holds.
VARIABLES: dict[str, str | Promise] = {
    "name": _("the member's name"),
    "points": _("the member's points balance"),
    "tier": _("the member's tier"),
    "expiring_points": _("points about to expire"),
    "expiry_date": _("the date they expire"),
    "downgrade_date": _("the date the member's tier will drop"),
    "downgrade_tier": _("the tier it will drop to"),
    "points_earned": _("points earned by the purchase"),
    "points_spent": _("points spent on the purchase"),
    "amount": _("the purchase amount"),
    "code": _("a code (promo code, voucher) given with the message"),
    "occasion": _("the occasion (anniversary, holiday)"),
    "merchant": _("the merchant's name"),
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")

#: The GSM 03.38 default alphabet: one septet each.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: an escape and the character, two septets each.
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
#: Symbols of the GSM alphabet kept as they are.
_GSM_SYMBOLS = frozenset("£¥¤§¡¿ΔΦΓΛΩΠΨΣΘΞ")
#: What ASCII characters missing from GSM become.
_GSM_FALLBACK = {"`": "'", "\t": " ", "\v": " "}


def check_variables(text: str) -> list[str]:
    """The variables `text` uses; raises ValidationFailed naming any unknown one or stray syntax."""
    used = _PLACEHOLDER.findall(text)
    unknown = sorted({name for name in used if name not in VARIABLES})
    if unknown:
        raise ValidationFailed(
            _("Unknown variable(s): %(unknown)s. A template may use: %(known)s.")
            % {
                "unknown": ", ".join(f"{{{{ {name} }}}}" for name in unknown),
                "known": ", ".join(f"{{{{ {name} }}}}" for name in VARIABLES),
            },
            code="unknown_variable",
            unknown=unknown,
        )
    if _TEMPLATE_SYNTAX.search(_PLACEHOLDER.sub("", text)):
        raise ValidationFailed(
            _("Write variables as {{ name }}; other template syntax is not allowed."),
            code="invalid_template_syntax",
        )
    return used


def render(text: str, context: dict[str, Any]) -> str:
    """`text` with each known variable replaced by its value (an unknown one by nothing)."""
    return _PLACEHOLDER.sub(lambda m: str(context.get(m.group(1), "")), text)


def pieces(text: str) -> list[str]:
    """`text` split at its placeholders: literal, variable name, literal, …, literal (odd indexes are
    names). Joining the literals with each name's value is `render`."""
    return _PLACEHOLDER.split(text)


def strip_diacritics(text: str) -> str:
    """Vietnamese without diacritics, "Chúc mừng sinh nhật, Đức" → "Chuc mung sinh nhat, Duc", so an SMS
    fits the GSM alphabet (160 characters a part instead of 70). Every accented letter loses its accent,
    even the few GSM has (à, é): half-stripped Vietnamese reads worse than none."""
    return "".join(map(_plain, text))


@functools.lru_cache(maxsize=4096)
def _plain(ch: str) -> str:
    if (ch.isascii() and ch in GSM_BASIC) or ch in GSM_EXTENDED or ch in _GSM_SYMBOLS:
        return ch
    return "".join(
        p if p in GSM_BASIC or p in GSM_EXTENDED else _GSM_FALLBACK.get(p, "?") for p in unidecode(ch)
    )


#: A character GSM-7 cannot send, and one it sends as two septets (escape + character): searched by
#: the regular expression engine, not a Python loop per character (a campaign measures each message).
_NOT_GSM = re.compile("[^" + "".join(sorted(map(re.escape, GSM_BASIC | GSM_EXTENDED))) + "]")
_GSM_ESCAPED = re.compile("[" + "".join(sorted(map(re.escape, GSM_EXTENDED))) + "]")


@dataclass(frozen=True)
class SmsInfo:
    encoding: str  # "GSM-7" or "UCS-2"
    length: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int
    per_part: int


def sms_info(text: str) -> SmsInfo:
    """How long an SMS is and how many parts it is billed as. GSM-7: 160 in one part, 153 a part when
    concatenated; UCS-2 (any character outside GSM, Vietnamese with diacritics): 70, then 67."""
    if _NOT_GSM.search(text) is None:
        length = len(text) + len(_GSM_ESCAPED.findall(text))
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if length <= single:
        return SmsInfo(encoding, length, 1 if length else 0, single)
    return SmsInfo(encoding, length, math.ceil(length / multi), multi)


#: Characters `strip_diacritics` leaves as they are: a text of only these is its own stripped form.
KEPT_BY_STRIPPING = frozenset(ch for ch in GSM_BASIC | GSM_EXTENDED | _GSM_SYMBOLS if _plain(ch) == ch)
_KEPT = re.compile("[" + "".join(sorted(map(re.escape, KEPT_BY_STRIPPING))) + "]*")


def kept_by_stripping(text: str) -> bool:
    """Whether `strip_diacritics(text) == text`, without building the stripped text."""
    return _KEPT.fullmatch(text) is not None


def pg_class(chars: frozenset[str]) -> str:
    """A PostgreSQL regular-expression bracket expression matching exactly `chars`."""
    named = {"\n": "\\n", "\r": "\\r", "\f": "\\f", "\t": "\\t"}
    out = []
    for ch in sorted(chars):
        if ch in named:
            out.append(named[ch])
        elif ch.isalnum():
            out.append(ch)
        else:
            out.append("\\" + ch)
    return "[" + "".join(out) + "]"


#: A whole text PostgreSQL sends as GSM-7 (`text ~ GSM_PG_PATTERN`), and the characters counted twice.
GSM_PG_PATTERN = "^" + pg_class(GSM_BASIC | GSM_EXTENDED) + "*$"
GSM_EXTENDED_TEXT = "".join(sorted(GSM_EXTENDED))
