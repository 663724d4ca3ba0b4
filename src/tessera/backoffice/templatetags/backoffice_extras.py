"""Template helpers of the back-office pages."""

from __future__ import annotations

from django import template

from tessera.core.money import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    """An integer of minor units as the merchant's money: 45000 VND → "45,000 VND"."""
    if amount is None:
        return "—"
    return format_money(int(amount), currency)
