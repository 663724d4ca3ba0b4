"""Forms of the import pages: the upload, and the mapping of the file's columns with the options."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminDateWidget,
    UnfoldAdminFileFieldWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminSelectWidget,
)

from tessera.imports.fields import FIELDS
from tessera.imports.models import DuplicatePolicy, ImportJob, ImportMode


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".xlsx,.csv,.txt,.tsv"}),
        help_text=_("Excel (.xlsx) or CSV; the first row holds the column names."),
    )


class MappingForm(forms.Form):
    """One choice per column of the file (`col_<n>`), then what to do with bad rows and existing members."""

    mode = forms.ChoiceField(
        label=_("When a row is bad"),
        choices=ImportMode.choices,
        widget=UnfoldAdminRadioSelectWidget(),
    )
    duplicate_policy = forms.ChoiceField(
        label=_("When the phone is already a member"),
        choices=DuplicatePolicy.choices,
        widget=UnfoldAdminRadioSelectWidget(),
    )
    default_expiry = forms.DateField(
        label=_("Opening points expire on"),
        required=False,
        widget=UnfoldAdminDateWidget(),
        help_text=_(
            "For rows without an expiry date. Leave empty: such points expire as the points policy "
            "says, counted from the day they were earned."
        ),
    )

    def __init__(self, *args: Any, job: ImportJob, samples: dict[str, list[str]], **kwargs: Any) -> None:
        initial: dict[str, Any] = {
            "mode": job.mode,
            "duplicate_policy": job.duplicate_policy,
            "default_expiry": job.default_expiry,
        }
        for index, header in enumerate(job.headers):
            initial[f"col_{index}"] = job.mapping.get(header, "")
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        choices = [("", _("— ignore this column —")), *((f.name, f.label) for f in FIELDS)]
        self.columns: list[tuple[str, str, list[str]]] = []
        for index, header in enumerate(job.headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header, choices=choices, required=False, widget=UnfoldAdminSelectWidget()
            )
            self.columns.append((name, header, samples.get(header, [])))
        self.job = job

    def column_fields(self) -> list[tuple[forms.BoundField, list[str]]]:
        return [(self[name], sample) for name, _header, sample in self.columns]

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[name]
            for name, header, _s in self.columns
            if self.cleaned_data.get(name)
        }
