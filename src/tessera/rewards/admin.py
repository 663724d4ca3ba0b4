"""Back office for rewards (E6, E7, E8): top-up bonus rules, the gift catalogue and its redemptions
(fulfil, cancel), promo-code offers and the codes issued (searchable by code), occasion discounts
(issue 15 §3), bonus rules for points without a purchase and the bonuses they gave (issue 15 §5). The
"Top up a card"
page is the sales' (a top-up is a sale of stored value). Every business write goes through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from tessera.core.errors import DomainError
from tessera.core.formatting import format_money
from tessera.core.money import MoneyField
from tessera.rewards import bonuses, services
from tessera.rewards.models import (
    PROFILE_FIELDS,
    BonusGrant,
    BonusRule,
    Gift,
    GiftRedemption,
    OccasionDiscount,
    PromoCode,
    PromoCodeOffer,
    PromoCodeUse,
    TopUpBonusRule,
)
from tessera.tenancy.admin_base import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceSaveMixin,
    TenantAdmin,
    TenantHistoryAdmin,
    request_staff,
)


class TopUpBonusRuleForm(forms.ModelForm):
    """A top-up bonus rule's fields, as the page and the management API (`tessera.rewards.config_api`)
    validate them."""

    class Meta:
        model = TopUpBonusRule
        fields = (
            "name",
            "min_amount",
            "bonus_points",
            "bonus_value",
            "valid_from",
            "valid_until",
            "is_active",
        )


@admin.register(TopUpBonusRule)
class TopUpBonusRuleAdmin(ServiceSaveMixin, TenantHistoryAdmin):
    form = TopUpBonusRuleForm
    list_display = TopUpBonusRuleForm.Meta.fields
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = TopUpBonusRuleForm.Meta.fields
    service = staticmethod(lambda obj, user: services.save_top_up_bonus_rule(rule=obj, actor=user))


class GiftForm(forms.ModelForm):
    stock_change = forms.IntegerField(
        label=_("add to stock"),
        required=False,
        initial=0,
        help_text=_("Negative to take away. Added to what is left now, so redemptions meanwhile are kept."),
    )

    class Meta:
        model = Gift
        fields = ("name", "description", "points_cost", "per_member_limit", "image", "is_active")

    def clean_stock_change(self) -> int:
        change = self.cleaned_data.get("stock_change") or 0
        if (self.instance.stock if self.instance.pk else 0) + change < 0:
            raise forms.ValidationError(_("The stock cannot go below zero."))
        return change


@admin.register(Gift)
class GiftAdmin(TenantHistoryAdmin):
    form = GiftForm
    list_display = ("name", "points_cost", "stock", "per_member_limit", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("stock",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (
            "name",
            "description",
            "points_cost",
            "stock",
            "stock_change",
            "per_member_limit",
            "image",
            "is_active",
        )

    def save_model(self, request: HttpRequest, obj: Gift, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        if not change:
            obj.stock = 0
            if staff is not None:
                obj.merchant_id = staff.merchant_id
        try:
            services.save_gift(gift=obj, actor=request.user, stock_change=form.cleaned_data["stock_change"])
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)


@admin.register(GiftRedemption)
class GiftRedemptionAdmin(ReadOnlyAdminMixin, TenantHistoryAdmin):
    list_display = ("id", "created_at", "member", "gift", "quantity", "points", "status", "store")
    list_filter = ("status", "gift", "store")
    search_fields = ("member__full_name", "member__phone", "gift__name")
    list_select_related = ("member", "gift", "store")
    actions = ("fulfil_selected", "cancel_selected")
    fields = (
        "status",
        "member",
        "gift",
        "quantity",
        "points",
        "store",
        "fulfilled_at",
        "cancelled_at",
        "cancel_reason",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_fulfil_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.fulfil_giftredemption")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.cancel_giftredemption")

    def _apply(self, request: HttpRequest, queryset: QuerySet[GiftRedemption], label: str, run: Any) -> None:
        done = 0
        for redemption in queryset:
            try:
                run(redemption)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{redemption}: {exc}", messages.ERROR)
        if done:
            self.message_user(
                request, _("%(label)s: %(count)s redemption(s).") % {"label": label, "count": done}
            )

    @action(description=_("Mark the selected redemptions fulfilled"), permissions=["fulfil"])
    def fulfil_selected(self, request: HttpRequest, queryset: QuerySet[GiftRedemption]) -> None:
        self._apply(
            request,
            queryset,
            str(_("Fulfilled")),
            lambda r: services.fulfil_gift_redemption(redemption=r, actor=request.user),
        )

    @action(description=_("Cancel the selected redemptions (points back)"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[GiftRedemption]) -> None:
        self._apply(
            request,
            queryset,
            str(_("Cancelled")),
            lambda r: services.cancel_gift_redemption(
                redemption=r, actor=request.user, reason=str(_("Back office"))
            ),
        )


class PromoCodeOfferForm(forms.ModelForm):
    """An offer's fields, as the page and the management API (`tessera.rewards.api`) validate them."""

    class Meta:
        model = PromoCodeOffer
        fields = (
            "name",
            "points_cost",
            "value_kind",
            "amount",
            "percent",
            "validity_days",
            "usage_limit",
            "channel",
            "is_active",
        )


@admin.register(PromoCodeOffer)
class PromoCodeOfferAdmin(TenantHistoryAdmin):
    form = PromoCodeOfferForm
    list_display = (
        "name",
        "points_cost",
        "value_kind",
        "amount",
        "percent",
        "validity_days",
        "usage_limit",
        "channel",
        "is_active",
    )
    list_filter = ("is_active", "value_kind", "channel")
    search_fields = ("name",)
    fields = (
        "name",
        "points_cost",
        "value_kind",
        "amount",
        "percent",
        "validity_days",
        "usage_limit",
        "channel",
        "is_active",
    )

    def save_model(
        self, request: HttpRequest, obj: PromoCodeOffer, form: ModelForm[Any], change: bool
    ) -> None:
        staff = request_staff(request)
        if not change and staff is not None:
            obj.merchant_id = staff.merchant_id
        services.save_offer(offer=obj, actor=request.user)


class PromoCodeUseInline(ReadOnlyInline):
    model = PromoCodeUse
    parent_view_permission = "rewards.view_promocode"
    fields = ("created_at", "order_ref", "order_amount", "discount", "channel", "store")


@admin.register(PromoCode)
class PromoCodeAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = (
        "code",
        "member",
        "offer",
        "value_display",
        "valid_until",
        "uses_left",
        "status",
        "issued_via",
    )
    list_filter = ("status", "offer", "issued_via")
    search_fields = ("=code", "member__phone", "member__full_name")
    list_select_related = ("member", "offer")
    inlines = (PromoCodeUseInline,)
    actions = ("cancel_selected",)
    fields = (
        "code",
        "member",
        "offer",
        "value_kind",
        "amount",
        "percent",
        "channel",
        "valid_until",
        "usage_limit",
        "uses_left",
        "status",
        "points",
        "issued_via",
        "cancelled_at",
        "cancel_reason",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rewards.cancel_promocode")

    @action(description=_("Cancel the selected unused codes (points back)"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[PromoCode]) -> None:
        done = 0
        for code in queryset:
            try:
                services.cancel_promo_code(code=code, actor=request.user, reason=str(_("Back office")))
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{code}: {exc}", messages.ERROR)
        if done:
            self.message_user(
                request, _("Cancelled: %(count)s code(s), points given back.") % {"count": done}
            )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # Codes are stored upper case without dashes; staff type them as printed.
        return super().get_search_results(
            request, queryset, services.normalise_code(search_term) or search_term
        )

    @admin.display(description=_("value"))
    def value_display(self, obj: PromoCode) -> str:
        if obj.amount is not None:
            return format_money(obj.amount, obj.merchant.currency)
        return f"{obj.percent}%"


#: ISO weekday digit → its name, in Django's own catalogue.
WEEKDAY_CHOICES = [
    ("1", _("Monday")),
    ("2", _("Tuesday")),
    ("3", _("Wednesday")),
    ("4", _("Thursday")),
    ("5", _("Friday")),
    ("6", _("Saturday")),
    ("7", _("Sunday")),
]


OCCASION_FIELDS = (
    "name",
    "kind",
    "period",
    "weekdays",
    "starts_on",
    "ends_on",
    "percent",
    "max_discount",
    "max_uses",
    "stacking",
    "is_active",
)


class OccasionDiscountForm(forms.ModelForm):
    """An occasion discount's fields, as the page and the management API (`tessera.rewards.config_api`)
    validate them; `currency` (the merchant's) reads the cap."""

    currency = "VND"
    weekdays = forms.MultipleChoiceField(
        label=_("weekdays"),
        choices=WEEKDAY_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For a weekday discount: the days it applies, in the store's time zone."),
    )

    class Meta:
        model = OccasionDiscount
        fields = OCCASION_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_discount"] = MoneyField(
            currency=self.currency,
            minimum=1,
            required=False,
            label=_("largest discount per sale"),
            help_text=_("Empty for no cap."),
        )
        if self.instance.weekdays:
            self.initial["weekdays"] = list(self.instance.weekdays)

    def clean_weekdays(self) -> str:
        return "".join(sorted(self.cleaned_data.get("weekdays") or []))


@admin.register(OccasionDiscount)
class OccasionDiscountAdmin(ServiceSaveMixin, TenantHistoryAdmin):
    """Configuration read by every quote: each save gives the merchant a new configuration version
    (`tenancy.config`), so the tills see it on their next request."""

    form = OccasionDiscountForm
    service = staticmethod(lambda obj, user: services.save_occasion_discount(occasion=obj, actor=user))
    list_display = ("name", "kind", "period", "percent", "max_discount", "max_uses", "stacking", "is_active")
    list_filter = ("is_active", "kind", "stacking")
    search_fields = ("name",)
    fields = OCCASION_FIELDS

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        staff = request_staff(request)
        merchant = staff.merchant if staff is not None else getattr(obj, "merchant", None)
        if merchant is not None:
            form.currency = merchant.currency
        return form


# --- points without a purchase (issue 15 §5) ----------------------------------------------------------


class BonusRuleForm(forms.ModelForm):
    profile_fields = forms.MultipleChoiceField(
        label=_("profile fields required"),
        choices=PROFILE_FIELDS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Profile completed: none chosen means name, email, birthday and gender."),
    )

    class Meta:
        model = BonusRule
        fields = (
            "name",
            "kind",
            "event_type",
            "points",
            "referrer_points",
            "min_amount",
            "profile_fields",
            "per_day",
            "per_week",
            "per_month",
            "per_member",
            "budget",
            "valid_from",
            "valid_until",
            "is_active",
        )


@admin.register(BonusRule)
class BonusRuleAdmin(TenantHistoryAdmin):
    form = BonusRuleForm
    list_display = ("name", "kind", "event_type", "points", "referrer_points", "budget", "given", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "event_type")
    readonly_fields = ("given",)

    @admin.display(description=_("points given"))
    def given(self, obj: BonusRule) -> int:
        return bonuses.budget_given(obj) if obj.pk and obj.budget is not None else 0

    def save_model(self, request: HttpRequest, obj: BonusRule, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        if not change and staff is not None:
            obj.merchant_id = staff.merchant_id
        try:
            bonuses.save_bonus_rule(rule=obj, actor=request.user)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)


@admin.register(BonusGrant)
class BonusGrantAdmin(ReadOnlyAdminMixin, TenantAdmin):
    list_display = (
        "granted_at",
        "member",
        "rule",
        "points",
        "referred",
        "sale_id",
        "event_type",
        "taken_back_at",
    )
    list_filter = ("rule", "rule__kind")
    search_fields = ("member__full_name", "member__phone", "rule__name", "event_type")
    list_select_related = ("member", "rule", "referred")
