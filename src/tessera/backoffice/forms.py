"""Forms of the cashier screen (E3). Amounts are typed in the currency's major unit ("45000" đồng,
"12.50" yuan) and read into minor units by `core.money.parse_money`, the one reader of typed money
(issue 14). They are held to the API's limits (core.limits), so the screen refuses with a message what
the services would refuse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminTextInputWidget,
)

from tessera.core import periods
from tessera.core.formatting import format_money
from tessera.core.forms import LabelsField
from tessera.core.limits import (
    MAX_AMOUNT,
    MAX_LABEL_LENGTH,
    MAX_LINE_AMOUNT,
    MAX_POINTS,
    MAX_QUANTITY,
    MAX_SALE_AMOUNT,
)
from tessera.core.money import MoneyField, minor_digits
from tessera.sales.services import SaleLine
from tessera.tenancy.models import Merchant, StaffMembership, Store


def _money_field(currency: str, label: Any, *, required: bool, maximum: int = MAX_AMOUNT) -> MoneyField:
    # The screen's script sums the basket from number boxes, whose value is always "1234.5": the
    # parser reads that the same in every language.
    digits = minor_digits(currency)
    return MoneyField(
        currency=currency,
        maximum=maximum,
        label=label,
        required=required,
        widget=UnfoldAdminDecimalFieldWidget(
            attrs={"step": str(Decimal(1).scaleb(-digits)), "min": "0", "class": "js-money"}
        ),
    )


#: The longest custom period the dashboard shows day by day.
MAX_DASHBOARD_DAYS = 366


class DashboardPeriodForm(forms.Form):
    """The dashboard's period: a preset, or From and To (both given, they win)."""

    period = forms.ChoiceField(
        label=_("Period"),
        choices=[(k, label) for k, label in periods.PRESETS if k != periods.CUSTOM],
        required=False,
    )
    start = forms.DateField(label=_("From"), required=False, widget=periods.DateInput)
    end = forms.DateField(label=_("To"), required=False, widget=periods.DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if periods.clean_range(
            data, max_days=MAX_DASHBOARD_DAYS, too_long=_("The dashboard shows at most a year.")
        ):
            data["period"] = periods.CUSTOM
        return data


class LookupForm(forms.Form):
    q = forms.CharField(
        label=_("Card number, phone or name"),
        max_length=100,
        widget=UnfoldAdminTextInputWidget(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "spellcheck": "false",
                "enterkeyhint": "search",
            }
        ),
        help_text=_("Scan the card (the reader types the number and Enter), or type a phone or a name."),
    )


class LineForm(forms.Form):
    name = forms.CharField(
        label=_("Item"), max_length=200, required=False, widget=UnfoldAdminTextInputWidget()
    )
    quantity = forms.IntegerField(
        label=_("Quantity"),
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"class": "js-quantity", "inputmode": "numeric"}),
    )

    # Optional: what product rules count (issue 15 §4).
    sku = forms.CharField(label=_("SKU"), max_length=64, required=False, widget=UnfoldAdminTextInputWidget())
    category = forms.CharField(
        label=_("Category"), max_length=MAX_LABEL_LENGTH, required=False, widget=UnfoldAdminTextInputWidget()
    )
    labels = LabelsField(label=_("Labels"), help_text=_("key:value, separated by commas"))

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["unit_price"] = _money_field(currency, _("Unit price"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("name") or data.get("unit_price") is not None:
            if not data.get("name"):
                self.add_error("name", _("Name the item."))
            if data.get("unit_price") is None:
                self.add_error("unit_price", _("Enter the unit price."))
            if not data.get("quantity"):
                data["quantity"] = 1
            line = self.sale_line()
            if line is not None and line.quantity * line.unit_price > MAX_LINE_AMOUNT:
                self.add_error(
                    "quantity",
                    _("A line cannot be more than %(limit)s.")
                    % {"limit": format_money(MAX_LINE_AMOUNT, self.currency)},
                )
        return data

    def sale_line(self) -> SaleLine | None:
        data = self.cleaned_data
        if not data.get("name") or data.get("unit_price") is None:
            return None
        return SaleLine(
            name=data["name"],
            quantity=data["quantity"] or 1,
            unit_price=data["unit_price"],
            sku=(data.get("sku") or "").strip(),
            category=(data.get("category") or "").strip(),
            labels=data.get("labels") or {},
        )


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        lines = self.sale_lines()
        if not lines:
            raise forms.ValidationError(_("Add at least one item."))
        if sum(line.quantity * line.unit_price for line in lines) > MAX_SALE_AMOUNT:
            currency = self.forms[0].currency
            raise forms.ValidationError(
                _("A sale cannot be more than %(limit)s.")
                % {"limit": format_money(MAX_SALE_AMOUNT, currency)}
            )

    def sale_lines(self) -> list[SaleLine]:
        lines = [form.sale_line() for form in self.forms if form.is_valid()]
        return [line for line in lines if line is not None]


LineFormSet = forms.formset_factory(LineForm, formset=BaseLineFormSet, extra=1, max_num=100)


class BasketForm(forms.Form):
    """Where, and how the customer pays beyond cash: points and stored value to spend."""

    token = forms.CharField(widget=forms.HiddenInput)
    member = forms.IntegerField(widget=forms.HiddenInput)
    card = forms.IntegerField(widget=forms.HiddenInput, required=False)
    store = forms.ModelChoiceField(
        queryset=Store.objects.none(), label=_("Store"), empty_label=None, widget=UnfoldAdminSelectWidget()
    )
    points_to_spend = forms.IntegerField(
        label=_("Points to spend"),
        min_value=0,
        max_value=MAX_POINTS,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget(attrs={"inputmode": "numeric"}),
    )
    external_ref = forms.CharField(
        label=_("Invoice number"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget()
    )
    note = forms.CharField(
        label=_("Note"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget()
    )

    def __init__(self, *args: Any, staff: StaffMembership, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = merchant.currency
        stores = Store.objects.visible_to(staff).filter(is_active=True).order_by("name")
        store_field: forms.ModelChoiceField = self.fields["store"]  # type: ignore[assignment]
        store_field.queryset = stores
        only = list(stores[:2])
        if len(only) == 1:
            store_field.widget = forms.HiddenInput()
            self.initial["store"] = only[0].pk
        self.fields["stored_value_to_spend"] = _money_field(
            merchant.currency, _("Stored value to spend"), required=False, maximum=MAX_SALE_AMOUNT
        )
        # Keep the money fields beside each other, before the invoice number.
        order = ["token", "member", "card", "store", "points_to_spend", "stored_value_to_spend"]
        self.order_fields(order)

    @property
    def single_store(self) -> bool:
        return isinstance(self.fields["store"].widget, forms.HiddenInput)

    def stored_value_minor(self) -> int:
        return self.cleaned_data.get("stored_value_to_spend") or 0


class ConfirmForm(forms.Form):
    """The second step (E2): the member's PIN or texted code, or a second staff member's login."""

    token = forms.CharField(widget=forms.HiddenInput)
    method = forms.CharField(widget=forms.HiddenInput)
    pin = forms.CharField(
        label=_("Member's PIN"),
        max_length=6,
        required=False,
        widget=UnfoldAdminPasswordWidget(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    otp = forms.CharField(
        label=_("Code sent by SMS"),
        max_length=6,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )
    username = forms.CharField(
        label=_("Second staff member's user name"),
        max_length=150,
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        label=_("Their password"),
        required=False,
        widget=UnfoldAdminPasswordWidget(attrs={"autocomplete": "off"}),
    )


class TwoFactorCodeForm(forms.Form):
    """A code from the staff user's authenticator app, or one of their recovery codes (B4)."""

    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The 6-digit code your authenticator app shows, or one of your recovery codes."),
        widget=UnfoldAdminTextInputWidget(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        # Codes are ASCII letters and digits: refuse anything else here, never deeper down (issue 12).
        if not code.isascii() or not code.replace("-", "").isalnum():
            raise forms.ValidationError(_("This code is not right."))
        return code
