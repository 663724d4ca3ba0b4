"""Form fields shared by the back-office pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

from tessera.core.limits import MAX_LABEL_LENGTH


class TextListField(forms.CharField):
    """A list of short texts typed separated by commas (SKUs, categories, `key:value` labels): read as
    a sorted list without blanks or repeats; each at most `MAX_LABEL_LENGTH` characters."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", UnfoldAdminTextInputWidget)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list | tuple):
            items = [str(item) for item in value]
        else:
            items = str(value or "").replace("\n", ",").split(",")
        found = sorted({item.strip() for item in items if item.strip()})
        too_long = [item for item in found if len(item) > MAX_LABEL_LENGTH]
        if too_long:
            raise forms.ValidationError(
                _("“%(item)s” is longer than %(max)s characters.")
                % {"item": too_long[0], "max": MAX_LABEL_LENGTH}
            )
        return found
