"""Formatting a report cell by its column's kind, in the reader's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.formats import date_format, number_format

from tessera.core.exports import Column
from tessera.core.money import format_money

register = template.Library()


@register.simple_tag
def report_cell(value: Any, column: Column, currency: str) -> str:
    if value is None or value == "":
        return ""
    if column.kind == "money":
        return format_money(int(value), currency)
    if column.kind in ("int", "points"):
        return number_format(int(value), force_grouping=True)
    if column.kind == "percent":
        return number_format(Decimal(value).quantize(Decimal("0.1")), decimal_pos=1) + " %"
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return date_format(value, "SHORT_DATE_FORMAT")
    return str(value)
