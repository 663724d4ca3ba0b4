"""Back office for rewards (E6, E7, E8): top-up bonus rules and top-ups with a "Top up a card" page,
the gift catalogue and its redemptions (fulfil, cancel), promo-code offers and the codes issued
(searchable by code). Every business write goes through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action

from tessera.cards.models import PaymentMethod
from tessera.cards.selectors import find_card
from tessera.core.errors import DomainError
from tessera.core.money import format_money
from tessera.rewards import services
from tessera.rewards.models import (
    Gift,
    GiftRedemption,
    PromoCode,
    PromoCodeOffer,
    PromoCodeUse,
    TopUpBonusRule,
)
from tessera.sales import stored_value
from tessera.sales.models import TopUp
from tessera.tenancy.admin_base import (
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    TenantAdmin,
    TenantHistoryAdmin,
    request_staff,
)
from tessera.tenancy.models import StaffMembership, Store


@admin.register(TopUpBonusRule)
class TopUpBonusRuleAdmin(TenantHistoryAdmin):
    list_display = (
        "name",
        "min_amount",
        "bonus_points",
        "bonus_value",
        "valid_from",
        "valid_until",
        "is_active",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)
    fields = ("name", "min_amount", "bonus_points", "bonus_value", "valid_from", "valid_until", "is_active")


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


@admin.register(PromoCodeOffer)
class PromoCodeOfferAdmin(TenantHistoryAdmin):
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
        "created_by",
        "created_at",
    )
    readonly_fields = fields

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


class TopUpForm(forms.Form):
    card_number = forms.CharField(label=_("card number"), max_length=64)
    amount = forms.IntegerField(
        label=_("amount paid"), min_value=1, help_text=_("In the currency's minor unit.")
    )
    payment_method = forms.ChoiceField(label=_("payment method"), choices=PaymentMethod.choices)
    store = forms.ModelChoiceField(queryset=Store.objects.none(), label=_("store"))
    invoice = forms.CharField(label=_("invoice number"), max_length=100, required=False)
    note = forms.CharField(label=_("note"), max_length=300, required=False)

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        self.fields["store"].queryset = Store.objects.visible_to(staff).filter(is_active=True)  # type: ignore[attr-defined]

    def clean_card_number(self) -> Any:
        card = find_card(merchant=self.staff.merchant_id, code=self.cleaned_data["card_number"])
        if card is None:
            raise forms.ValidationError(_("No card with this number."))
        return card


@admin.register(TopUp)
class TopUpAdmin(TenantAdmin):
    """The top-ups made, and the "Top up a card" page (the add page)."""

    list_display = (
        "id",
        "created_at",
        "card",
        "store",
        "amount_display",
        "payment_method",
        "invoice_number",
        "bonus_value",
        "bonus_points",
    )
    list_filter = ("store", "payment_method")
    search_fields = ("=card__number", "invoice_number", "card__member__phone")
    list_select_related = ("card", "store")
    fields = (
        "card",
        "store",
        "amount",
        "currency",
        "payment_method",
        "invoice_number",
        "bonus_rule",
        "bonus_value",
        "bonus_points",
        "note",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("amount paid"), ordering="amount")
    def amount_display(self, obj: TopUp) -> str:
        return format_money(obj.amount, obj.currency)

    def get_urls(self) -> list[Any]:
        page = path("top-up/", self.admin_site.admin_view(self.top_up_view), name="rewards_top_up")
        return [page, *super().get_urls()]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        return self.top_up_view(request)

    def top_up_view(self, request: HttpRequest) -> HttpResponse:
        staff = request_staff(request)
        if staff is None or not request.user.has_perm("sales.add_topup"):
            raise PermissionDenied
        form = TopUpForm(
            request.POST or None, staff=staff, initial={"card_number": request.GET.get("card", "")}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                record = stored_value.top_up(
                    card=data["card_number"],
                    amount=data["amount"],
                    payment_method=data["payment_method"],
                    store=data["store"],
                    invoice=data["invoice"],
                    note=data["note"],
                    actor=request.user,
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request,
                    _("%(amount)s loaded onto card %(card)s (bonus: %(value)s, %(points)s points).")
                    % {
                        "amount": format_money(record.amount, record.currency),
                        "card": record.card.number,
                        "value": format_money(record.bonus_value, record.currency),
                        "points": record.bonus_points,
                    },
                )
                return HttpResponseRedirect(reverse("admin:sales_topup_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Top up a card"),
            "explanation": _(
                "Money paid in cash, by bank card or transfer; never with the card's own value."
            ),
            "form": form,
            "submit_label": _("Top up"),
            "back_url": reverse("admin:sales_topup_changelist"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "sales/admin/form_page.html", context)
