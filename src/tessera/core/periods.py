"""Calendar periods the dashboard and the reports offer: a few presets and a custom range, in the
merchant's days, and the period to compare one with (issue 14).

The comparison period has the same number of days and ends the day before, except for calendar months:
"this month" so far compares with the same days of last month, "last month" with the month before it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

TODAY, LAST_7_DAYS, THIS_MONTH, LAST_MONTH, CUSTOM = "today", "7d", "month", "last_month", "custom"

#: (key, label) of each preset, in the order the pages offer them.
PRESETS = [
    (TODAY, _("Today")),
    (LAST_7_DAYS, _("Last 7 days")),
    (THIS_MONTH, _("This month")),
    (LAST_MONTH, _("Last month")),
    (CUSTOM, _("Custom")),
]
PRESET_KEYS = frozenset(key for key, _label in PRESETS)


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    preset: str = CUSTOM

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def previous(self) -> Period:
        if self.preset in (THIS_MONTH, LAST_MONTH):
            month_end = self.start - timedelta(days=1)
            start = month_end.replace(day=1)
            if self.preset == LAST_MONTH:
                return Period(start, month_end, self.preset)
            length = calendar.monthrange(start.year, start.month)[1]
            return Period(start, start.replace(day=min(self.end.day, length)), self.preset)
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.preset)


def preset_period(preset: str, *, today: date) -> Period:
    """The period a preset names, ending today at the latest; an unknown key is the last 7 days."""
    if preset == TODAY:
        return Period(today, today, TODAY)
    if preset == THIS_MONTH:
        return Period(today.replace(day=1), today, THIS_MONTH)
    if preset == LAST_MONTH:
        end = today.replace(day=1) - timedelta(days=1)
        return Period(end.replace(day=1), end, LAST_MONTH)
    return Period(today - timedelta(days=6), today, LAST_7_DAYS)


def preset_of(start: date, end: date, *, today: date) -> str:
    """The preset whose period is exactly start..end, else "custom" (to mark the one in use)."""
    for key, _label in PRESETS:
        if key != CUSTOM and preset_period(key, today=today) == Period(start, end, key):
            return key
    return CUSTOM


class DateInput(UnfoldAdminTextInputWidget):
    """The browser's date picker, styled as Unfold's inputs (no script: the pages run under a CSP)."""

    input_type = "date"

    def format_value(self, value: object) -> str | None:
        return value.isoformat() if isinstance(value, date) else super().format_value(value)


def clean_range(data: dict[str, Any], *, max_days: int, too_long: Any) -> bool:
    """Check a form's From and To: True when both are given (and valid), ValidationError when From
    is after To or the range spans `max_days` days or more (`too_long` says so)."""
    start, end = data.get("start"), data.get("end")
    if not (isinstance(start, date) and isinstance(end, date)):
        return False
    if start > end:
        raise forms.ValidationError(_("The start date must not be after the end date."), code="period")
    if (end - start).days >= max_days:
        raise forms.ValidationError(too_long, code="period_too_long")
    return True
