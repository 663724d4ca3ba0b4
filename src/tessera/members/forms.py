"""Back-office forms for members and segments. They validate; the services write."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextareaWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from tessera.core.errors import DomainError
from tessera.core.limits import MAX_BALANCE, MIN_BIRTH_YEAR
from tessera.members import services
from tessera.members.models import Gender, Member, MemberStatus, Segment, Tag
from tessera.members.schemas import SegmentFilters, birthday_in_range
from tessera.tenancy.models import Merchant, Store

#: The gender filter's choice for "not specified" (the stored value is "", which a form reads as empty).
UNSPECIFIED = "unspecified"
MONTHS = [
    (1, _("January")),
    (2, _("February")),
    (3, _("March")),
    (4, _("April")),
    (5, _("May")),
    (6, _("June")),
    (7, _("July")),
    (8, _("August")),
    (9, _("September")),
    (10, _("October")),
    (11, _("November")),
    (12, _("December")),
]


class MerchantBoundForm(forms.ModelForm):
    """A model form that knows its merchant: the staff user's, else (operators) the chosen or saved one."""

    merchant_id: int | None = None

    def resolved_merchant(self) -> Merchant | None:
        if self.merchant_id:
            return Merchant.objects.get(pk=self.merchant_id)
        chosen = self.cleaned_data.get("merchant") if hasattr(self, "cleaned_data") else None
        if chosen:
            return chosen
        if self.instance.pk:
            return self.instance.merchant
        return None


def _name_taken(qs: Any, name: str, instance: Any) -> bool:
    qs = qs.filter(name__iexact=" ".join((name or "").split()))
    if instance.pk:
        qs = qs.exclude(pk=instance.pk)
    return bool(qs.exists())


class TagForm(MerchantBoundForm):
    class Meta:
        model = Tag
        fields = ["name"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        merchant = self.resolved_merchant()
        if merchant is not None and _name_taken(
            Tag.objects.of(merchant), cleaned.get("name", ""), self.instance
        ):
            self.add_error("name", _("There is already a tag with this name."))
        return cleaned


class MemberForm(MerchantBoundForm):
    """Add and change a member's profile. The phone is typed only when adding (C3)."""

    phone = forms.CharField(
        label=_("phone"),
        max_length=40,
        help_text=_("Local numbers are read as numbers of the merchant's country."),
        widget=UnfoldAdminTextInputWidget,
    )
    referred_by_code = forms.CharField(
        label=_("referral code"),
        max_length=20,
        required=False,
        help_text=_("The code of the member who brought this one in, if any. Kept for good."),
        widget=UnfoldAdminTextInputWidget,
    )

    class Meta:
        model = Member
        fields = [
            "full_name",
            "email",
            "address",
            "region",
            "birthday",
            "gender",
            "occupation",
            "id_number",
            "hobbies",
            "preferences",
            "notes",
            "tags",
            "home_store",
            "marketing_sms",
            "marketing_email",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        merchant = self.resolved_merchant()
        birthday = cleaned.get("birthday")
        today = timezone.localdate(timezone=merchant.tz if merchant is not None else None)
        if birthday is not None and not birthday_in_range(birthday, today=today):
            self.add_error(
                "birthday",
                _("A birthday must be from %(earliest)s up to today.")
                % {"earliest": formats.date_format(date(MIN_BIRTH_YEAR, 1, 1))},
            )
        if "phone" in self.fields and cleaned.get("phone") and merchant is not None:
            try:
                phone = services.normalise_phone(cleaned["phone"], merchant=merchant)
            except DomainError as exc:
                self.add_error("phone", str(exc))
            else:
                cleaned["phone"] = phone
                taken = Member.objects.of(merchant).filter(
                    phone=phone, superseded_by__isnull=True, erased_at__isnull=True
                )
                if taken.exists():
                    self.add_error("phone", _("Another member already has this phone."))
        code = services.normalise_referral_code(cleaned.get("referred_by_code") or "")
        if code and merchant is not None:
            referrer = Member.objects.of(merchant).filter(
                referral_code=code, superseded_by__isnull=True, erased_at__isnull=True
            )
            if not referrer.exists():
                self.add_error("referred_by_code", _("No member has this referral code."))
        return cleaned

    def profile(self) -> dict[str, Any]:
        """The profile fields the services take, as cleaned."""
        return {k: v for k, v in self.cleaned_data.items() if k in services.PROFILE_FIELDS}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("Kept with the member and shown to staff."),
    )


class ConfirmForm(forms.Form):
    confirm = forms.BooleanField(label=_("Yes, I am sure"), required=True, widget=UnfoldBooleanWidget)


class ChangePhoneForm(forms.Form):
    new_phone = forms.CharField(
        label=_("New phone"),
        max_length=40,
        widget=UnfoldAdminTextInputWidget,
        help_text=_(
            "A new loyalty account is opened for the new phone, with the same profile and no points or "
            "tier. The old account is kept. Move points with an adjustment voucher."
        ),
    )


class SetPinForm(forms.Form):
    """The member types the PIN on the counter keypad or the staff's screen; it is never shown again."""

    pin = forms.CharField(
        label=_("New PIN"),
        min_length=4,
        max_length=6,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off", "class": "border"}),
        help_text=_("4 to 6 digits. The member confirms sales with it (E2)."),
    )
    pin_again = forms.CharField(
        label=_("The PIN again"),
        max_length=6,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off", "class": "border"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("pin") and data.get("pin") != data.get("pin_again"):
            raise forms.ValidationError(_("The two PINs differ."))
        return data


def _int_field(label: Any, *, max_value: int | None = None) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=0,
        max_value=max_value,
        widget=UnfoldAdminIntegerFieldWidget,
    )


def _date_field(label: Any) -> forms.DateField:
    return forms.DateField(label=label, required=False, widget=UnfoldAdminSingleDateWidget)


class SegmentForm(MerchantBoundForm):
    """Segment filters as form fields; stored as SegmentFilters JSON (C6)."""

    status = forms.MultipleChoiceField(
        label=_("Status"),
        choices=MemberStatus.choices,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    home_stores = forms.ModelMultipleChoiceField(
        label=_("Home stores"),
        queryset=Store.objects.none(),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    birthday_month = forms.TypedChoiceField(
        label=_("Birthday month"),
        choices=[("", "—"), *MONTHS],
        coerce=int,
        empty_value=None,
        required=False,
        widget=UnfoldAdminSelectWidget,
    )
    min_age = _int_field(_("Age from"), max_value=150)
    max_age = _int_field(_("Age up to"), max_value=150)
    region = forms.CharField(
        label=_("Region"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget
    )
    occupation = forms.CharField(
        label=_("Occupation contains"), max_length=100, required=False, widget=UnfoldAdminTextInputWidget
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Has any of the tags"),
        queryset=Tag.objects.none(),
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
    )
    gender = forms.ChoiceField(
        label=_("Gender"),
        choices=[("", "—"), (UNSPECIFIED, Gender.UNSPECIFIED.label), *Gender.choices[1:]],
        required=False,
        widget=UnfoldAdminSelectWidget,
    )
    joined_from = _date_field(_("Joined from"))
    joined_to = _date_field(_("Joined up to"))
    min_points = _int_field(_("Points balance from"), max_value=MAX_BALANCE)
    max_points = _int_field(_("Points balance up to"), max_value=MAX_BALANCE)
    last_visit_after = _date_field(_("Last visit on or after"))
    last_visit_before = _date_field(_("Last visit on or before"))

    FILTER_FIELDS = tuple(SegmentFilters.model_fields)

    class Meta:
        model = Segment
        fields = ["name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        merchant_id = self.merchant_id or self.instance.merchant_id
        self.fields["home_stores"].queryset = Store.objects.filter(merchant_id=merchant_id)  # type: ignore[attr-defined]
        self.fields["tags"].queryset = Tag.objects.filter(merchant_id=merchant_id)  # type: ignore[attr-defined]
        if self.instance.pk:
            saved = SegmentFilters.model_validate(self.instance.filters)
            for name in self.FILTER_FIELDS:
                value = getattr(saved, name)
                if name == "gender" and value == Gender.UNSPECIFIED:
                    value = UNSPECIFIED
                self.fields[name].initial = value

    def filters(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in self.FILTER_FIELDS:
            value = self.cleaned_data.get(name)
            if name in ("home_stores", "tags"):
                value = [obj.pk for obj in value or []]
            if name == "gender":
                value = {"": None, UNSPECIFIED: Gender.UNSPECIFIED.value}.get(value or "", value)
            if value is not None and value != [] and (value != "" or name == "gender"):
                data[name] = value
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        merchant = self.resolved_merchant()
        if merchant is None or self.errors:
            return cleaned
        if _name_taken(Segment.objects.of(merchant), cleaned.get("name", ""), self.instance):
            self.add_error("name", _("There is already a segment with this name."))
        try:
            services.validate_segment_filters(merchant=merchant, filters=self.filters())
        except DomainError as exc:
            for error in exc.detail.get("errors", []):
                field = error["field"].split(".")[0]
                self.add_error(field if field in self.fields else None, error["message"])
        return cleaned
