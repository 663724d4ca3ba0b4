"""Back-office forms of the card pages: one small form per service call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from tessera.cards.models import CardType, PaymentMethod
from tessera.cards.services import MAX_BATCH
from tessera.core.money import MoneyField
from tessera.tenancy.models import StaffMembership, Store


def _text(**kwargs: Any) -> forms.CharField:
    return forms.CharField(widget=UnfoldAdminTextInputWidget, **kwargs)


class CardTypeForm(forms.ModelForm):
    """A card type as the back office and the management API edit it (D1): one form, one validation."""

    class Meta:
        model = CardType
        fields = [
            "name",
            "kind",
            "discount_percent",
            "benefits",
            "level",
            "number_prefix",
            "requires_sale",
            "is_active",
        ]

    #: The merchant a new type is for, when the page's form class is bound to it (`CardTypeAdmin`).
    merchant_id: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.merchant_id is None and self.merchant_id is not None:
            self.instance.merchant_id = self.merchant_id

    def clean_name(self) -> str:
        # The (merchant, name) constraint is not checked by the form, which has no merchant field.
        name: str = self.cleaned_data["name"]
        merchant_id = self.instance.merchant_id
        if merchant_id is not None:
            same = CardType.objects.of(merchant_id).filter(name=name).exclude(pk=self.instance.pk)
            if same.exists():
                raise forms.ValidationError(_("A card type with this name already exists."), code="unique")
        return name


class GenerateBatchForm(forms.Form):
    card_type = forms.ModelChoiceField(
        CardType.objects.none(), label=_("Card type"), widget=UnfoldAdminSelectWidget
    )
    quantity = forms.IntegerField(
        label=_("Quantity"), min_value=1, max_value=MAX_BATCH, widget=UnfoldAdminTextInputWidget
    )
    number_prefix = _text(
        label=_("Number prefix"), required=False, max_length=8, help_text=_("Empty: the card type's prefix.")
    )
    note = _text(label=_("Note"), required=False, max_length=300)

    def __init__(self, *args: Any, merchant_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["card_type"].queryset = CardType.objects.of(merchant_id).filter(is_active=True)  # type: ignore[attr-defined]


class InitialiseBatchForm(forms.Form):
    card_type = forms.ModelChoiceField(
        CardType.objects.none(), label=_("Card type"), widget=UnfoldAdminSelectWidget
    )

    def __init__(self, *args: Any, merchant_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["card_type"].queryset = CardType.objects.of(merchant_id)  # type: ignore[attr-defined]


class AssignForm(forms.Form):
    store = forms.ModelChoiceField(Store.objects.none(), label=_("Store"), widget=UnfoldAdminSelectWidget)
    numbers = forms.CharField(
        label=_("Only these numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "border rounded-default px-3 py-2 w-full"}),
        help_text=_("One per line; empty assigns every initialised card of the batch."),
    )

    def __init__(self, *args: Any, merchant_id: int, staff: StaffMembership | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stores = Store.objects.visible_to(staff) if staff else Store.objects.of(merchant_id)
        self.fields["store"].queryset = stores  # type: ignore[attr-defined]

    def number_list(self) -> list[str] | None:
        lines = [line.strip() for line in self.cleaned_data["numbers"].splitlines() if line.strip()]
        return lines or None


class SellForm(forms.Form):
    phone = _text(label=_("Customer's phone"), max_length=30)
    payment_method = forms.ChoiceField(
        label=_("Payment method"), choices=PaymentMethod.choices, widget=UnfoldAdminSelectWidget
    )
    invoice_number = _text(label=_("Invoice number"), max_length=60)
    note = _text(label=_("Note"), required=False, max_length=300)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Typed as people write money ("100.000" đồng), read by core.money.parse_money (issue 14).
        self.fields["amount"] = MoneyField(
            currency=currency, label=_("Amount paid"), widget=UnfoldAdminTextInputWidget()
        )
        self.order_fields(["phone", "payment_method", "invoice_number", "amount"])


class PhoneForm(forms.Form):
    phone = _text(label=_("Customer's phone"), max_length=30)


class NoteForm(forms.Form):
    note = _text(label=_("Note"), required=False, max_length=300)


class ReplaceForm(forms.Form):
    new_number = _text(
        label=_("New card number"),
        required=False,
        max_length=40,
        help_text=_("A card from stock; empty gives a newly numbered card."),
    )
    note = _text(label=_("Note"), required=False, max_length=300)
