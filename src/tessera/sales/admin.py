"""Back office for sales (E3, E4, E9): transactions with their lines, refunds and ledger entries; void and
refund actions; "Add points" and "Deduct points" pages. Every write goes through the services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action
from unfold.widgets import UnfoldAdminTextInputWidget

from tessera.cards.models import PaymentMethod
from tessera.cards.selectors import find_card
from tessera.core.errors import DomainError
from tessera.core.exports import Column
from tessera.core.formatting import format_datetime, format_money, format_points
from tessera.core.limits import MAX_POINTS, MAX_SALE_AMOUNT, occurred_on_window
from tessera.core.money import MoneyField
from tessera.ledger.models import AccountKind
from tessera.members.models import Member
from tessera.rules.explain import describe_parts
from tessera.sales import services, stored_value
from tessera.sales.models import (
    Channel,
    Refund,
    SalesSettings,
    TopUp,
    Transaction,
    TransactionLine,
    TransactionStatus,
)
from tessera.sales.selectors import entries_of_sale
from tessera.tenancy.admin_base import (
    ExportAdminMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    TenantAdmin,
    TenantHistoryAdmin,
    request_staff,
)
from tessera.tenancy.models import StaffMembership, Store


class LineInline(ReadOnlyInline):
    model = TransactionLine
    parent_view_permission = "sales.view_transaction"
    fields = ("sku", "name", "quantity", "unit_price_display", "amount_display")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TransactionLine]:
        return super().get_queryset(request).select_related("transaction")  # for its currency

    @admin.display(description=_("unit price"))
    def unit_price_display(self, obj: TransactionLine) -> str:
        return format_money(obj.unit_price, obj.transaction.currency)

    @admin.display(description=_("amount"))
    def amount_display(self, obj: TransactionLine) -> str:
        return format_money(obj.amount, obj.transaction.currency)


class RefundInline(ReadOnlyInline):
    model = Refund
    parent_view_permission = "sales.view_transaction"
    fields = (
        "created_at",
        "store",
        "amount",
        "points_reversed",
        "points_shortfall",
        "points_returned",
        "stored_value_returned",
        "reason",
        "created_by",
    )


@admin.register(Transaction)
class TransactionAdmin(ExportAdminMixin, ReadOnlyAdminMixin, TenantHistoryAdmin):
    list_display = (
        "id",
        "occurred_at",
        "store",
        "member",
        "status",
        "amount_display",
        "points_earned",
        "points_to_spend",
        "channel",
    )
    list_filter = ("status", "store", "channel", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("external_ref", "member__full_name", "member__phone")
    date_hierarchy = "occurred_at"
    list_select_related = ("store", "member")
    inlines = (LineInline, RefundInline)
    actions = ("void_selected", "refund_selected")
    fields = (
        "status",
        "store",
        "member",
        "card",
        "channel",
        "external_ref",
        "occurred_at",
        "total_display",
        "discount_display",
        "points_earned",
        "earning_explained",
        "points_to_spend",
        "stored_value_display",
        "confirm_method",
        "confirmed_by",
        "confirmed_at",
        "failed_confirmations",
        "locked_at",
        "voided_at",
        "voided_by",
        "void_reason",
        "note",
        "ledger_entries",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sales.void_transaction")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sales.refund_transaction")

    @admin.display(description=_("amount due"), ordering="total_amount")
    def amount_display(self, obj: Transaction) -> str:
        return format_money(obj.amount_due, obj.currency)

    @admin.display(description=_("how the points were computed"))
    def earning_explained(self, obj: Transaction) -> str:
        """In the reader's language, from the parts kept with the sale (E5); older sales as written."""
        return describe_parts(obj.earning_parts) if obj.earning_parts else obj.earn_explanation

    @admin.display(description=_("total"))
    def total_display(self, obj: Transaction) -> str:
        return format_money(obj.total_amount, obj.currency)

    @admin.display(description=_("discount"))
    def discount_display(self, obj: Transaction) -> str:
        return format_money(obj.discount_amount, obj.currency)

    @admin.display(description=_("stored value spent"))
    def stored_value_display(self, obj: Transaction) -> str:
        return format_money(obj.stored_value_to_spend, obj.currency)

    @admin.display(description=_("ledger entries"))
    def ledger_entries(self, obj: Transaction) -> SafeString:
        # In the merchant's zone, like every other time on the page (issue 14: it showed UTC here).
        rows = [
            (
                format_datetime(e.occurred_at),
                e.get_kind_display(),
                e.account,
                _signed(e.amount, e.account.kind, obj.currency),
                e.description,
            )
            for e in entries_of_sale(obj)
        ]
        return format_html_join("\n", "<div>{} · {} · {} · <strong>{}</strong> · {}</div>", rows)

    def _apply(self, request: HttpRequest, queryset: QuerySet[Transaction], label: str, run: Any) -> None:
        done = 0
        for sale in queryset:
            try:
                run(sale)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{sale}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, _("%(label)s: %(count)s sale(s).") % {"label": label, "count": done})

    @action(description=_("Void the selected sales"), permissions=["void"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> None:
        self._apply(
            request,
            queryset,
            str(_("Voided")),
            lambda sale: services.void_transaction(
                transaction=sale, actor=request.user, reason=str(_("Back office"))
            ),
        )

    @action(description=_("Refund everything left of the selected sales"), permissions=["refund"])
    def refund_selected(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> None:
        self._apply(
            request,
            queryset,
            str(_("Refunded")),
            lambda sale: services.refund_transaction(transaction=sale, actor=request.user),
        )

    # -- Export (J6): the filtered list, store-scoped like the list itself
    export_permission = "sales.export_transaction"

    def export_columns(self, request: HttpRequest) -> list[Column]:
        return [
            Column(str(_("number")), "int"),
            Column(str(_("date")), "datetime"),
            Column(str(_("store"))),
            Column(str(_("member phone"))),
            Column(str(_("member"))),
            Column(str(_("status"))),
            Column(str(_("channel"))),
            Column(str(_("external reference"))),
            Column(str(_("total")), "money"),
            Column(str(_("discount")), "money"),
            Column(str(_("amount due")), "money"),
            Column(str(_("points earned")), "points"),
            Column(str(_("points spent")), "points"),
            Column(str(_("stored value spent")), "money"),
        ]

    def export_rows(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> Iterator[list[Any]]:
        statuses = {value: str(label) for value, label in TransactionStatus.choices}
        channels = {value: str(label) for value, label in Channel.choices}
        values = queryset.values_list(
            "pk",
            "occurred_at",
            "store__name",
            "member__phone",
            "member__full_name",
            "status",
            "channel",
            "external_ref",
            "total_amount",
            "discount_amount",
            "points_earned",
            "points_to_spend",
            "stored_value_to_spend",
        )
        for pk, at, store, phone, name, status, channel, ref, total, discount, *points in values.iterator(
            chunk_size=2000
        ):
            yield [
                pk,
                at,
                store,
                str(phone or ""),
                name,
                statuses.get(status, status),
                channels.get(channel, channel),
                ref,
                total,
                discount,
                total - discount,
                *points,
            ]

    def get_urls(self) -> list[Any]:
        pages = [
            path("points/add/", self.admin_site.admin_view(self.add_points_view), name="sales_add_points"),
            path(
                "points/deduct/",
                self.admin_site.admin_view(self.deduct_points_view),
                name="sales_deduct_points",
            ),
        ]
        return pages + super().get_urls()

    def _staff(self, request: HttpRequest, permission: str) -> StaffMembership:
        staff = request_staff(request)
        if staff is None or not request.user.has_perm(permission):
            raise PermissionDenied
        return staff

    def add_points_view(self, request: HttpRequest) -> HttpResponse:
        staff = self._staff(request, "sales.add_points")
        form = AddPointsForm(request.POST or None, staff=staff, initial=_initial(request))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            return self._write(
                request,
                form,
                lambda: services.add_points(
                    member=data["member"],
                    store=data["store"],
                    actor=request.user,
                    amount_spent=data["amount_spent"] or 0,
                    points=data["points"],
                    note=data["note"],
                    occurred_on=data["occurred_on"],
                    record_expired=data["record_expired"],
                ),
            )
        return self._page(
            request, form, _("Add points"), _("Leave the points empty to compute them from the amount.")
        )

    def deduct_points_view(self, request: HttpRequest) -> HttpResponse:
        staff = self._staff(request, "sales.deduct_points")
        form = DeductPointsForm(request.POST or None, staff=staff, initial=_initial(request))
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            return self._write(
                request,
                form,
                lambda: services.deduct_points(
                    member=data["member"],
                    points=data["points"],
                    reason=data["reason"],
                    store=data["store"],
                    actor=request.user,
                    occurred_on=data["occurred_on"],
                ),
            )
        return self._page(request, form, _("Deduct points"), "")

    def _write(self, request: HttpRequest, form: forms.Form, run: Any) -> HttpResponse:
        try:
            entry = run()
        except DomainError as exc:
            form.add_error(None, str(exc))
            title = _("Add points") if isinstance(form, AddPointsForm) else _("Deduct points")
            return self._page(request, form, title, "")
        self.message_user(
            request,
            _("%(points)+d points for %(member)s.")
            % {"points": entry.amount, "member": form.cleaned_data["member"]},
        )
        return HttpResponseRedirect(reverse("admin:sales_transaction_changelist"))

    def _page(self, request: HttpRequest, form: forms.Form, title: Any, explanation: Any) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "form": form,
            "submit_label": title,
            "back_url": reverse("admin:sales_transaction_changelist"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "sales/admin/form_page.html", context)


def _signed(amount: int, kind: str, currency: str) -> str:
    """A ledger movement with its sign: points grouped, stored value as money."""
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    shown = format_points(abs(amount)) if kind == AccountKind.POINTS else format_money(abs(amount), currency)
    return sign + shown


def _initial(request: HttpRequest) -> dict[str, Any]:
    return {"member": request.GET.get("member"), "occurred_on": timezone.localdate()}


class _PointsForm(forms.Form):
    member = forms.ModelChoiceField(queryset=Member.objects.none(), label=_("member"))
    store = forms.ModelChoiceField(queryset=Store.objects.none(), label=_("store"))
    occurred_on = forms.DateField(label=_("date"), required=False)

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the staff member's merchant's current members and the stores they work in (A1, B2).
        self.fields["member"].queryset = Member.objects.of(staff.merchant_id).filter(  # type: ignore[attr-defined]
            superseded_by__isnull=True, erased_at__isnull=True
        )
        self.fields["store"].queryset = Store.objects.visible_to(staff).filter(is_active=True)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day, store = data.get("occurred_on"), data.get("store")
        if day is not None and store is not None:
            earliest, latest = occurred_on_window(timezone.localdate(timezone=store.tz))
            if not earliest <= day <= latest:
                self.add_error(
                    "occurred_on",
                    _("The date must be between %(earliest)s and %(latest)s.")
                    % {"earliest": date_format(earliest), "latest": date_format(latest)},
                )
        return data


class AddPointsForm(_PointsForm):
    points = forms.IntegerField(label=_("points"), min_value=1, max_value=MAX_POINTS, required=False)
    note = forms.CharField(label=_("note"), max_length=300, required=False)
    record_expired = forms.BooleanField(
        label=_("record as expired"),
        required=False,
        help_text=_("Points dated so far back that they have expired are refused unless this is ticked."),
    )

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, staff=staff, **kwargs)
        # Typed as people write money ("150.000" đồng), read by core.money.parse_money (issue 14).
        self.fields["amount_spent"] = MoneyField(
            currency=staff.merchant.currency,
            maximum=MAX_SALE_AMOUNT,
            label=_("amount spent"),
            required=False,
            widget=UnfoldAdminTextInputWidget(),
        )
        self.order_fields(["member", "store", "occurred_on", "amount_spent"])


class DeductPointsForm(_PointsForm):
    points = forms.IntegerField(label=_("points"), min_value=1, max_value=MAX_POINTS)
    reason = forms.CharField(label=_("reason"), max_length=300)


@admin.register(SalesSettings)
class SalesSettingsAdmin(TenantAdmin):
    list_display = ("merchant", "earn_points", "earn_per_amount", "pending_days", "points_validity_months")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- top-ups: stored value put on a card at the counter (E6) --------------------------------------


class TopUpForm(forms.Form):
    card_number = forms.CharField(label=_("card number"), max_length=64)
    payment_method = forms.ChoiceField(label=_("payment method"), choices=PaymentMethod.choices)
    store = forms.ModelChoiceField(queryset=Store.objects.none(), label=_("store"))
    invoice = forms.CharField(label=_("invoice number"), max_length=100, required=False)
    note = forms.CharField(label=_("note"), max_length=300, required=False)

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        self.fields["store"].queryset = Store.objects.visible_to(staff).filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["amount"] = MoneyField(
            currency=staff.merchant.currency,
            minimum=1,
            label=_("amount paid"),
            widget=UnfoldAdminTextInputWidget(),
        )
        self.order_fields(["card_number", "amount"])

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
        "bonus_value_display",
        "bonus_points",
    )
    list_filter = ("store", "payment_method")
    search_fields = ("=card__number", "invoice_number", "card__member__phone")
    list_select_related = ("card", "store")
    fields = (
        "card",
        "store",
        "amount_display",
        "payment_method",
        "invoice_number",
        "bonus_rule",
        "bonus_value_display",
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

    @admin.display(description=_("bonus value"), ordering="bonus_value")
    def bonus_value_display(self, obj: TopUp) -> str:
        return format_money(obj.bonus_value, obj.currency)

    def get_urls(self) -> list[Any]:
        page = path("top-up/", self.admin_site.admin_view(self.top_up_view), name="sales_top_up")
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
