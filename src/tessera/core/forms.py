"""Form fields shared by the back-office pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminTextInputWidget

from tessera.core.limits import MAX_LABEL_LENGTH, MAX_LABELS


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


class LabelsField(forms.CharField):
    """A sale line's labels typed as `key:value` separated by commas (issue 15 §4), read as a dict held
    to the API's bounds (`core.limits.Labels`)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", UnfoldAdminTextInputWidget)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dict[str, str]:  # type: ignore[override]
        labels: dict[str, str] = {}
        for item in str(value or "").split(","):
            if not item.strip():
                continue
            key, sep, text = item.partition(":")
            key, text = key.strip(), text.strip()
            if not sep or not key:
                raise forms.ValidationError(_("Write labels as key:value, separated by commas."))
            if len(key) > MAX_LABEL_LENGTH or len(text) > MAX_LABEL_LENGTH:
                raise forms.ValidationError(
                    _("A label's key and value have at most %(max)s characters.") % {"max": MAX_LABEL_LENGTH}
                )
            labels[key] = text
        if len(labels) > MAX_LABELS:
            raise forms.ValidationError(_("At most %(max)s labels.") % {"max": MAX_LABELS})
        return labels
