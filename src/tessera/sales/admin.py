"""Back office for sales (E3, E4, E9): transactions with their lines, refunds and ledger entries; void and
refund actions; "Add points" and "Deduct points" pages. Every write goes through the services."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
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
from tessera.core.idempotency import form_fingerprint, new_form_token, submit_once
from tessera.core.money import MoneyField
from tessera.ledger.models import AccountKind
from tessera.rules.explain import describe_parts
from tessera.sales import points_forms, selectors, services, stored_value
from tessera.sales.models import (
    Channel,
    Refund,
    SalesSettings,
    StoreConfirmation,
    TopUp,
    Transaction,
    TransactionLine,
    TransactionStatus,
)
from tessera.sales.points_forms import AddPointsForm, DeductPointsForm, TransferPointsForm, initial_for
from tessera.tenancy.admin_base import (
    ExportAdminMixin,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceSaveMixin,
    TenantAdmin,
    TenantHistoryAdmin,
    request_staff,
)
from tessera.tenancy.models import StaffMembership, Store

ADD_POINTS_EXPLANATION = _(
    "For a purchase not recorded at the till, such as a paper bill: enter what the customer spent and "
    "the points follow from the earning rules. You see them before saving."
)

TRANSFER_EXPLANATION = _(
    "Moves points the first member can spend now to another member, each with its own expiry date. "
    "Both members' histories show the movement and your reason."
)


class LineInline(ReadOnlyInline):
    model = TransactionLine
    parent_view_permission = "sales.view_transaction"
    fields = ("sku", "name", "quantity", "returned", "unit_price_display", "amount_display")

    def get_queryset(self, request: HttpRequest) -> QuerySet[TransactionLine]:
        return (
            super()
            .get_queryset(request)
            .select_related("transaction")  # for its currency
            .annotate(refunded_quantity=Coalesce(Sum("refund_lines__quantity"), 0))
        )

    @admin.display(description=_("returned"))
    def returned(self, obj: TransactionLine) -> int:
        return getattr(obj, "refunded_quantity", 0)

    @admin.display(description=_("unit price"))
    def unit_price_display(self, obj: TransactionLine) -> str:
        return format_money(obj.unit_price, obj.transaction.currency)

    @admin.display(description=_("amount"))
    def amount_display(self, obj: TransactionLine) -> str:
        return format_money(obj.amount, obj.transaction.currency)


class RefundInline(ReadOnlyInline):
    """The sale's refunds, one compact row each: a short date, the items brought back
    (`sales/admin/refund_inline.html`)."""

    model = Refund
    parent_view_permission = "sales.view_transaction"
    template = "sales/admin/refund_inline.html"
    fields = (
        "refunded_at",
        "items",
        "amount_display",
        "points_reversed",
        "points_shortfall",
        "points_returned",
        "stored_value_display",
        "store",
        "created_by",
        "reason",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return (
            super()
            .get_queryset(request)
            .select_related("store", "created_by", "transaction")
            .prefetch_related("lines__line")
        )

    @admin.display(description=_("date"))
    def refunded_at(self, obj: Refund) -> str:
        return date_format(timezone.localtime(obj.created_at, obj.store.tz), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("items"))
    def items(self, obj: Refund) -> str:
        return ", ".join(f"{returned.quantity} × {returned.line.name}" for returned in obj.lines.all())

    @admin.display(description=_("amount returned"))
    def amount_display(self, obj: Refund) -> str:
        return format_money(obj.amount, obj.transaction.currency)

    @admin.display(description=_("stored value given back"))
    def stored_value_display(self, obj: Refund) -> str:
        return format_money(obj.stored_value_returned, obj.transaction.currency)


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
    actions_detail = ("refund_lines",)
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
        "discounts_explained",
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
        staff = request_staff(request)
        if staff is None:
            return bool(request.user.has_perm("sales.refund_transaction"))
        return selectors.may_refund(request.user, staff.merchant)

    def has_refund_lines_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return self.has_view_permission(request) and self.has_refund_permission(request)

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> list[Any]:
        """Offer "Refund items" only on a confirmed sale with something left to return."""
        found = super().get_actions_detail(request, object_id)
        if found and not self._returnable(request, object_id):
            found = [a for a in found if not a.action_name.endswith("_refund_lines")]
        return found

    def _returnable(self, request: HttpRequest, object_id: Any) -> bool:
        sale = self.get_queryset(request).filter(pk=object_id, status=TransactionStatus.CONFIRMED).first()
        return sale is not None and any(
            line.quantity > line.refunded_quantity  # type: ignore[attr-defined]
            for line in selectors.lines_with_refunds().filter(transaction=sale)
        )

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

    @admin.display(description=_("discounts given"))
    def discounts_explained(self, obj: Transaction) -> str:
        """The tier's and an occasion's part, in the reader's language (issue 15 §3)."""
        return describe_parts(obj.discount_parts or [])

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
            for e in selectors.entries_of_sale(obj)
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

    # -- Refund by line (E9, issue 14): quantities, a preview of what goes back, then confirm, once
    @action(description=_("Refund items"), permissions=["refund_lines"], icon="undo", url_path="refund")
    def refund_lines(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        sale = (
            self.get_queryset(request)
            .filter(pk=object_id)
            .select_related("store", "member", "merchant")
            .first()
        )
        if sale is None:
            raise Http404
        lines = list(selectors.lines_with_refunds().filter(transaction=sale))
        data = request.POST if request.method == "POST" else None
        form = RefundLinesForm(data, lines=lines, currency=sale.currency, initial={"token": new_form_token()})
        step = request.POST.get("action", "") if data is not None else ""
        if data is None:
            # The service's own refusals (not confirmed, nothing left), before anyone types a number.
            try:
                services.preview_refund(transaction=sale, actor=request.user)
            except DomainError as exc:
                form.refused(str(exc))
            return self._refund_page(request, sale, form)
        if not form.is_valid():
            return self._refund_page(request, sale, form, status=422)
        if step == "confirm":
            return self._refund_confirm(request, sale, form)
        if step != "preview":
            return self._refund_page(request, sale, form)
        try:
            plan = services.preview_refund(transaction=sale, lines=form.quantities(), actor=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self._refund_page(request, sale, form, status=422)
        return self._refund_page(request, sale, form, plan=plan)

    def _refund_confirm(self, request: HttpRequest, sale: Transaction, form: RefundLinesForm) -> HttpResponse:
        back = reverse("admin:sales_transaction_change", args=[sale.pk])

        def work() -> str:
            refund = services.refund_transaction(
                transaction=sale,
                lines=form.quantities(),
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            self.message_user(
                request,
                _("Refund #%(id)s recorded: %(amount)s to give back.")
                % {"id": refund.pk, "amount": format_money(refund.amount, sale.currency)},
            )
            return back

        try:
            outcome = submit_once(
                merchant=sale.merchant,
                token=form.cleaned_data["token"],
                path=request.path,
                fingerprint=form_fingerprint(path=request.path, fields=dict(request.POST.lists())),
                work=work,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self._refund_page(request, sale, form, status=422)
        if outcome.url:
            if outcome.replayed:
                self.message_user(request, _("This refund was already recorded."), messages.WARNING)
            return HttpResponseRedirect(outcome.url)
        # Refused (and the refusal stored with the token): correct and send again as a new form.
        fresh = request.POST.copy()
        fresh["token"] = new_form_token()
        lines = list(selectors.lines_with_refunds().filter(transaction=sale))
        form = RefundLinesForm(fresh, lines=lines, currency=sale.currency)
        form.is_valid()
        form.add_error(None, outcome.error)
        return self._refund_page(request, sale, form, status=422)

    def _refund_page(
        self,
        request: HttpRequest,
        sale: Transaction,
        form: RefundLinesForm,
        *,
        plan: services.RefundPlan | None = None,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("Refund items of sale #%(id)s") % {"id": sale.pk},
            "sale": sale,
            "form": form,
            "plan": plan,
            "preview": plan
            and {
                "lines": [
                    (
                        planned.line,
                        planned.quantity,
                        format_money(planned.amount, sale.currency),
                        planned.points,
                    )
                    for planned in plan.lines
                ],
                "amount": format_money(plan.amount, sale.currency),
                "stored_value": format_money(plan.stored_value_returned, sale.currency),
            },
            "back_url": reverse("admin:sales_transaction_change", args=[sale.pk]),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "sales/admin/refund.html", context, status=status)

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
                "points/add/preview/",
                self.admin_site.admin_view(self.points_preview_view),
                name="sales_add_points_preview",
            ),
            path(
                "points/members/",
                self.admin_site.admin_view(self.member_suggestions_view),
                name="sales_member_suggestions",
            ),
            path(
                "points/deduct/",
                self.admin_site.admin_view(self.deduct_points_view),
                name="sales_deduct_points",
            ),
            path(
                "points/transfer/",
                self.admin_site.admin_view(self.transfer_points_view),
                name="sales_transfer_points",
            ),
        ]
        return pages + super().get_urls()

    def _staff(self, request: HttpRequest, permission: str) -> StaffMembership:
        staff = request_staff(request)
        if staff is None or not request.user.has_perm(permission):
            raise PermissionDenied
        return staff

    def points_preview_view(self, request: HttpRequest) -> HttpResponse:
        return points_forms.points_preview(request, self._staff(request, "sales.add_points"))

    def member_suggestions_view(self, request: HttpRequest) -> HttpResponse:
        staff = request_staff(request)
        user = request.user
        if staff is None or not any(
            user.has_perm(f"sales.{name}") for name in ("add_points", "deduct_points", "transfer_points")
        ):
            raise PermissionDenied
        return points_forms.member_suggestions(request, staff)

    def add_points_view(self, request: HttpRequest) -> HttpResponse:
        staff = self._staff(request, "sales.add_points")
        form = AddPointsForm(request.POST or None, staff=staff, initial=initial_for(request, staff))
        # "Show the points" (the page without JavaScript): the same form, checked and not saved.
        if request.method == "POST" and "_preview" in request.POST:
            form.is_valid()
            return self._page(request, form, _("Add points"), ADD_POINTS_EXPLANATION)
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
        return self._page(request, form, _("Add points"), ADD_POINTS_EXPLANATION)

    def deduct_points_view(self, request: HttpRequest) -> HttpResponse:
        staff = self._staff(request, "sales.deduct_points")
        form = DeductPointsForm(request.POST or None, staff=staff, initial=initial_for(request, staff))
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

    def transfer_points_view(self, request: HttpRequest) -> HttpResponse:
        """Points moved from one member to another, sent once whatever the double clicks (issue 15)."""
        staff = self._staff(request, "sales.transfer_points")
        title = _("Transfer points")
        initial = {"token": new_form_token()}
        if request.GET.get("member"):
            initial["source"] = initial_for(request, staff).get("member", "")
        form = TransferPointsForm(request.POST or None, staff=staff, initial=initial)
        if request.method != "POST" or not form.is_valid():
            return self._page(request, form, title, TRANSFER_EXPLANATION)
        data = form.cleaned_data
        back = reverse("admin:sales_transaction_changelist")

        def work() -> str:
            services.transfer_points(
                source=data["source"],
                target=data["target"],
                points=data["points"],
                reason=data["reason"],
                actor=request.user,
                store=data["store"],
            )
            self.message_user(
                request,
                _("%(points)s points moved from %(source)s to %(target)s.")
                % {
                    "points": format_points(data["points"]),
                    "source": data["source"],
                    "target": data["target"],
                },
            )
            return back

        try:
            outcome = submit_once(
                merchant=staff.merchant,
                token=data["token"],
                path=request.path,
                fingerprint=form_fingerprint(path=request.path, fields=dict(request.POST.lists())),
                work=work,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self._page(request, form, title, TRANSFER_EXPLANATION, status=422)
        if outcome.url:
            if outcome.replayed:
                self.message_user(request, _("These points were already moved."), messages.WARNING)
            return HttpResponseRedirect(outcome.url)
        fresh = request.POST.copy()
        fresh["token"] = new_form_token()
        form = TransferPointsForm(fresh, staff=staff)
        form.is_valid()
        form.add_error(None, outcome.error)
        return self._page(request, form, title, TRANSFER_EXPLANATION, status=422)

    def _write(self, request: HttpRequest, form: forms.Form, run: Any) -> HttpResponse:
        try:
            entry = run()
        except DomainError as exc:
            form.add_error(None, str(exc))
            if isinstance(form, AddPointsForm):
                return self._page(request, form, _("Add points"), ADD_POINTS_EXPLANATION)
            return self._page(request, form, _("Deduct points"), "")
        self.message_user(
            request,
            _("%(points)+d points for %(member)s.")
            % {"points": entry.amount, "member": form.cleaned_data["member"]},
        )
        return HttpResponseRedirect(reverse("admin:sales_transaction_changelist"))

    def _page(
        self, request: HttpRequest, form: forms.Form, title: Any, explanation: Any, status: int = 200
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "form": form,
            "submit_label": title,
            "back_url": reverse("admin:sales_transaction_changelist"),
            "opts": self.model._meta,
        }
        if isinstance(form, AddPointsForm):
            context["points_preview"] = form.preview()
            return TemplateResponse(request, "sales/admin/add_points.html", context)
        return TemplateResponse(request, "sales/admin/form_page.html", context, status=status)


def _signed(amount: int, kind: str, currency: str) -> str:
    """A ledger movement with its sign: points grouped, stored value as money."""
    sign = "+" if amount > 0 else "-" if amount < 0 else ""
    shown = format_points(abs(amount)) if kind == AccountKind.POINTS else format_money(abs(amount), currency)
    return sign + shown


class RefundLinesForm(forms.Form):
    """How many of each line come back (0 to what is left of it), and why. `token` makes the confirmation
    act once (`core.idempotency.submit_once`)."""

    reason = forms.CharField(
        label=_("Reason"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget
    )
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, lines: list[TransactionLine], currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines, self.currency = lines, currency
        self.refusal = ""
        for line in lines:
            left = line.quantity - line.refunded_quantity  # type: ignore[attr-defined]
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=line.name,
                min_value=0,
                max_value=left,
                initial=0,
                required=False,
                error_messages={"max_value": _("Only %(limit_value)s left to refund.")},
            )

    def refused(self, message: str) -> None:
        """Nothing can be refunded: say why, and offer no field to fill."""
        self.refusal = message

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "line": line,
                "field": self[f"line_{line.pk}"],
                "unit_price": format_money(line.unit_price, self.currency),
                "returned": line.refunded_quantity,  # type: ignore[attr-defined]
                "left": line.quantity - line.refunded_quantity,  # type: ignore[attr-defined]
            }
            for line in self.lines
        ]

    def quantities(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data[f"line_{line.pk}"]
            for line in self.lines
            if self.cleaned_data.get(f"line_{line.pk}")
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and not self.quantities():
            raise forms.ValidationError(_("Enter how many of at least one item are brought back."))
        return data


class SalesSettingsForm(forms.ModelForm):
    """The sales settings, as the page and the management API (`tessera.sales.config_api`) validate
    them."""

    class Meta:
        model = SalesSettings
        fields = (
            "confirm_with_pin",
            "confirm_with_otp",
            "confirm_with_staff",
            "verify_from_amount",
            "verify_from_points",
            "confirm_attempt_limit",
            "confirm_lockout_minutes",
            "cashiers_may_refund",
        )


@admin.register(SalesSettings)
class SalesSettingsAdmin(ServiceSaveMixin, TenantAdmin):
    form = SalesSettingsForm
    list_display = ("merchant", "cashiers_may_refund")
    service = staticmethod(lambda obj, user: services.save_sales_settings(settings=obj, actor=user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class StoreConfirmationForm(forms.ModelForm):
    """A store's own confirmation rules, as the page and the management API validate them: the page
    scopes the stores offered to the staff member's, the API to its key's merchant (`merchant_id`)."""

    merchant_id: int | None = None

    class Meta:
        model = StoreConfirmation
        fields = (
            "store",
            "confirm_with_pin",
            "confirm_with_otp",
            "confirm_with_staff",
            "verify_from_amount",
            "verify_from_points",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.merchant_id is not None:
            self.fields["store"].queryset = Store.objects.of(self.merchant_id)  # type: ignore[attr-defined]


@admin.register(StoreConfirmation)
class StoreConfirmationAdmin(ServiceSaveMixin, TenantHistoryAdmin):
    """A store's own confirmation rules (issue 15 §7), replacing the sales settings' for its sales."""

    form = StoreConfirmationForm
    service = staticmethod(lambda obj, user: services.save_store_confirmation(confirmation=obj, actor=user))
    list_display = StoreConfirmationForm.Meta.fields
    list_select_related = ("store",)
    fields = list_display

    def delete_model(self, request: HttpRequest, obj: StoreConfirmation) -> None:
        services.delete_store_confirmation(confirmation=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StoreConfirmation]) -> None:
        for confirmation in queryset:
            services.delete_store_confirmation(confirmation=confirmation, actor=request.user)


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
