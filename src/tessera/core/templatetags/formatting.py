"""Template filters of the formatting layer (`tessera.core.formatting`), in the page's language:

{% load formatting %}
{{ sale.amount_due|money:sale.currency }}    1.500.000 ₫
{{ account.balance|points }}                 1.500
{{ line.quantity|quantity }}                 12
{{ merchant.currency|currency_symbol }}      ₫
{{ entry.occurred_at|local_datetime:store.tz }}  in the store's zone (default: the merchant's)
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django import template

from tessera.core import formatting

register = template.Library()

EMPTY = "—"


@register.filter
def money(amount: int | None, currency: str) -> str:
    """An integer of minor units as money in `currency`; None is a dash."""
    if amount is None or amount == "":
        return EMPTY
    return formatting.format_money(int(amount), currency)


@register.filter
def points(value: int | None) -> str:
    if value is None or value == "":
        return EMPTY
    return formatting.format_points(int(value))


@register.filter
def signed_points(value: int | None) -> str:
    """+1.500 / -200: a movement of points, with its sign."""
    if value is None or value == "":
        return EMPTY
    number = int(value)
    return ("+" if number > 0 else "") + formatting.format_points(number)


@register.filter
def quantity(value: Any) -> str:
    if value is None or value == "":
        return EMPTY
    return formatting.format_quantity(value)


@register.filter
def currency_symbol(currency: str) -> str:
    return formatting.currency_symbol(currency)


@register.filter
def local_datetime(moment: datetime | None, zone: str | zoneinfo.ZoneInfo | None = None) -> str:
    """Date and time in `zone` (a store's `tz`), else in the active zone: the merchant's."""
    if not moment:
        return ""
    return formatting.format_datetime(moment, zone or None)
