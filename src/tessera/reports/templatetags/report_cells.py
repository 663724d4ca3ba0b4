"""Formatting a report cell by its column's kind, in the reader's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import date_format, number_format

from tessera.core.exports import Column
from tessera.core.formatting import format_datetime, format_money, format_points

register = template.Library()


@register.simple_tag
def report_cell(value: Any, column: Column, currency: str) -> str:
    if value is None or value == "":
        return ""
    if column.kind == "money":
        return format_money(int(value), currency)
    if column.kind in ("int", "points"):
        return format_points(int(value))
    if column.kind == "percent":
        return number_format(Decimal(value).quantize(Decimal("0.1")), decimal_pos=1) + " %"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return date_format(value, "SHORT_DATE_FORMAT")
    return str(value)
