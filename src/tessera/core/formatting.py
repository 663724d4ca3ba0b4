"""The one home of how numbers, money and times are shown to people (issue 14).

Money, points and quantities are formatted with the CLDR data of Babel, in the language of the page
(the active one unless told): 1.500.000 ₫ in Vietnamese, ¥5,352.00 for yuan in Chinese, $12.50 in
English. The currency's symbol is the one CLDR gives the language; a page never shows the ISO code
beside it. Times are stored in UTC and shown in the zone of the merchant (the staff middleware
activates it for every back-office request) or of a store, through `local_datetime`.

Templates use the filters of `tessera.core.templatetags.formatting` (`money`, `points`, `quantity`,
`currency_symbol`, `local_datetime`); Python code calls these functions. Excel exports keep numbers as
numbers with a number format (`excel_money_format`); CSV keeps plain integers (docs/exports.md).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, format_decimal, get_currency_symbol, get_group_symbol
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, to_locale

from tessera.core.money import minor_digits, to_major


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(to_locale(language))
    except (ValueError, LookupError):
        return Locale.parse("en")


def locale_for(language: str | None = None) -> Locale:
    """Babel's locale of a Django language code ("vi", "zh-hans", "en"); the active one by default."""
    return _locale(language or get_language() or "en")


def format_major(amount: Decimal, currency: str, language: str | None = None) -> str:
    """An amount in the currency's major unit, with at least the currency's decimals (and more when
    the amount has them: 1,234 CN¥ is how an ambiguous typed amount is shown back)."""
    return format_currency(amount, currency, locale=locale_for(language), decimal_quantization=False)


def format_money(amount_minor: int, currency: str, language: str | None = None) -> str:
    """Minor units as money: 1.500.000 ₫ (VND, vi), ¥5,352.00 (CNY, zh-Hans), $12.50 (USD, en)."""
    return _format_money(int(amount_minor), currency, language or get_language() or "en")


@lru_cache(maxsize=4096)
def _format_money(amount_minor: int, currency: str, language: str) -> str:
    # Remembered: a till's answers format the same few figures again and again (a rule's "per
    # 10.000 ₫", a tier's threshold), and Babel takes ~60 µs a figure.
    return format_major(to_major(amount_minor, currency), currency, language)


def format_points(points: int, language: str | None = None) -> str:
    """Points, grouped as the language groups: 1.500 (vi), 1,500 (en, zh-Hans)."""
    locale = locale_for(language)
    group = _plain_grouping(locale)
    if group is None:
        return format_decimal(int(points), locale=locale)
    # What Babel writes for a whole number in a locale that groups by threes with a plain minus, at a
    # tenth of the cost: a campaign formats one figure per recipient (issue 16).
    return f"{int(points):,}".replace(",", group)


def points_group_separator(language: str | None = None) -> str | None:
    """The separator `format_points` puts between groups of three digits in `language` (the active one
    by default), or None where it formats otherwise (Babel's other patterns): whoever writes points
    outside Python (SQL building a campaign's texts, issue 16) writes them as `format_points` does."""
    return _plain_grouping(locale_for(language))


@lru_cache(maxsize=16)
def _plain_grouping(locale: Locale) -> str | None:
    """The group separator of a locale whose whole numbers are written -1,234,567 but for the
    separator; None for any other (Indian grouping, other minus signs, affixes): Babel formats those."""
    pattern = locale.decimal_formats.get(None)
    plain = (
        pattern is not None
        and pattern.grouping == (3, 3)
        and pattern.prefix == ("", "-")
        and pattern.suffix == ("", "")
        and format_decimal(-1234567, locale=locale) == f"{-1234567:,}".replace(",", get_group_symbol(locale))
    )
    return get_group_symbol(locale) if plain else None


def format_quantity(quantity: int | Decimal, language: str | None = None) -> str:
    """A count of units (items on a line, members, cards), grouped as the language groups."""
    return format_decimal(quantity, locale=locale_for(language), decimal_quantization=False)


def currency_symbol(currency: str, language: str | None = None) -> str:
    """The symbol a label beside a money field shows: ₫, ¥ (zh-Hans), CN¥ (en, vi), $."""
    return get_currency_symbol(currency, locale=locale_for(language))


def excel_money_format(currency: str, language: str | None = None) -> str:
    """The Excel number format of a money column: the cell stays a number, shown with the symbol
    ("#,##0 ₫", "¥#,##0.00"); Excel applies the reader's own separators."""
    digits = minor_digits(currency)
    number = "#,##0" + ("." + "0" * digits if digits else "")
    symbol = currency_symbol(currency, language).replace('"', "")
    pattern = locale_for(language).currency_formats["standard"].pattern.split(";")[0]
    symbol_first = pattern.find("¤") < pattern.find("0")
    return f'"{symbol}"{number}' if symbol_first else f'{number} "{symbol}"'


def local_datetime(moment: datetime, zone: str | zoneinfo.ZoneInfo | None = None) -> datetime:
    """`moment` in `zone` (a store's or a merchant's), or in the active zone — the merchant's in the
    back office."""
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    return timezone.localtime(moment, zone)


def format_datetime(moment: datetime, zone: str | zoneinfo.ZoneInfo | None = None) -> str:
    """Date and time in `zone` (default: the active one), in the language's short format."""
    return date_format(local_datetime(moment, zone), "SHORT_DATETIME_FORMAT")
