"""The filter form every report page shares: the period, the stores (within the user's scope) and, for
the transaction report, the card type."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectMultipleWidget, UnfoldAdminSelectWidget

from tessera.cards.models import CardType
from tessera.core import periods
from tessera.reports.selectors import Filters, ReportScope, ReportSpec

#: The longest period a report may cover: the daily tables make a year cheap, ten years still fine.
MAX_DAYS = 3660


class ReportFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=periods.DateInput)
    end = forms.DateField(label=_("To"), widget=periods.DateInput)
    stores = forms.TypedMultipleChoiceField(
        label=_("Stores"),
        coerce=int,
        required=False,
        widget=UnfoldAdminSelectMultipleWidget(attrs={"size": 4}),
    )
    card_type = forms.TypedChoiceField(
        label=_("Card type"), coerce=int, required=False, empty_value=None, widget=UnfoldAdminSelectWidget
    )

    def __init__(self, data: QueryDict, *, scope: ReportScope, spec: ReportSpec) -> None:
        """Bound to the query string. A preset (`period`, see `tessera.core.periods`) sets From and To;
        a missing period is this month up to today."""
        self.today = scope.today()
        bound = data.copy()
        preset = bound.get("period", "")
        if preset in periods.PRESET_KEYS and preset != periods.CUSTOM:
            chosen = periods.preset_period(preset, today=self.today)
            bound["start"], bound["end"] = chosen.start.isoformat(), chosen.end.isoformat()
        for key, default in (("start", self.today.replace(day=1)), ("end", self.today)):
            if not bound.get(key):
                bound[key] = default.isoformat()
        super().__init__(bound)
        self.store_names = {s.pk: s.name for s in scope.stores()}
        self.card_type_names: dict[int, str] = {}
        self._choice_field("stores").choices = list(self.store_names.items())
        if spec.card_type_filter:
            card_types = CardType.objects.of(scope.merchant).order_by("name")
            self.card_type_names = {t.pk: t.name for t in card_types}
            self._choice_field("card_type").choices = [("", _("All")), *self.card_type_names.items()]
        else:
            del self.fields["card_type"]

    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        periods.clean_range(data, max_days=MAX_DAYS + 1, too_long=_("A report covers at most ten years."))
        return data

    def preset(self) -> str:
        """The preset whose period the form shows, or "custom" (also when the period is not valid)."""
        data = getattr(self, "cleaned_data", {})
        if "start" not in data or "end" not in data:
            return periods.CUSTOM
        return periods.preset_of(data["start"], data["end"], today=self.today)

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            start=data["start"],
            end=data["end"],
            store_ids=tuple(data.get("stores") or ()),
            card_type_id=data.get("card_type"),
        )

    def labels(self) -> list[tuple[str, str]]:
        """(label, shown value) of each filter, for the export's header."""
        data = self.cleaned_data
        labels = [(str(_("From")), data["start"].isoformat()), (str(_("To")), data["end"].isoformat())]
        if data.get("stores"):
            labels.append((str(_("Stores")), ", ".join(self.store_names[s] for s in data["stores"])))
        if data.get("card_type") is not None:
            labels.append((str(_("Card type")), self.card_type_names[data["card_type"]]))
        return labels
