"""Back office for adjustment vouchers (F2, 004 §3): create for one or many members, apply, cancel."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.decorators import action

from tessera.adjustments import services
from tessera.adjustments.forms import VoucherForm
from tessera.adjustments.models import AdjustmentLine, AdjustmentSettings, AdjustmentVoucher, VoucherStatus
from tessera.core.errors import DomainError
from tessera.core.limits import parse_id
from tessera.tenancy.admin_base import TenantHistoryAdmin, request_staff


class LineInline(TabularInline):
    model = AdjustmentLine
    fields = ["member", "points", "reason", "target_tier", "entry", "tier_change"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AdjustmentVoucher)
class AdjustmentVoucherAdmin(TenantHistoryAdmin):
    list_display = ["code", "status", "tags", "note", "created_by", "created_at", "applied_by", "applied_at"]
    list_filter = ["status"]
    search_fields = ["code", "tags", "note"]
    readonly_fields = [
        "code",
        "note",
        "tags",
        "status",
        "created_by",
        "applied_by",
        "applied_at",
        "cancelled_at",
    ]
    actions_detail = ["apply_page", "cancel_page"]
    actions = ["apply_selected"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)
        staff = request_staff(request)
        return type(
            "ScopedVoucherForm", (VoucherForm,), {"merchant": staff.merchant if staff is not None else None}
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                (None, {"fields": ["phones", "segment", "points", "reason", "target_tier"]}),
                (_("Voucher"), {"fields": ["code", "note", "tags"]}),
            ]
        return [(None, {"fields": self.readonly_fields})]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return [LineInline] if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The detail page is read-only; "change" is what cancelling a voucher needs.
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        assert staff is not None and isinstance(form, VoucherForm)
        voucher = services.create_voucher(
            merchant=staff.merchant,
            lines=form.lines,
            code=form.cleaned_data.get("code") or "",
            note=form.cleaned_data.get("note") or "",
            tags=(form.cleaned_data.get("tags") or "").split(","),
            actor=request.user,
        )
        for field in AdjustmentVoucher._meta.concrete_fields:
            setattr(obj, field.attname, getattr(voucher, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The lines were written by the service."""

    def _voucher(self, request: HttpRequest, object_id: Any) -> AdjustmentVoucher:
        voucher = self.get_queryset(request).filter(pk=pk).first() if (pk := parse_id(object_id)) else None
        if voucher is None:
            raise Http404
        return voucher

    def has_apply_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm("adjustments.apply_adjustmentvoucher")

    def has_cancel_permission(self, request: HttpRequest, object_id: Any = None) -> bool:
        return request.user.has_perm("adjustments.change_adjustmentvoucher")

    def _confirm_page(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        title: Any,
        intro: Any,
        submit: Any,
        perform: Any,
        success: Any,
        danger: bool = False,
    ) -> HttpResponse:
        voucher = self._voucher(request, object_id)
        change_url = reverse("admin:adjustments_adjustmentvoucher_change", args=[voucher.pk])
        if request.method == "POST":
            try:
                perform(voucher)
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, success % {"code": voucher.code})
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "voucher": voucher,
            "title": title,
            "intro": intro,
            "submit": submit,
            "danger": danger,
            "change_url": change_url,
        }
        return TemplateResponse(request, "adjustments/admin/confirm.html", context)

    @action(description=_("Adjust"), url_path="apply", permissions=["apply"], icon="done_all")
    def apply_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._confirm_page(
            request,
            object_id,
            title=_("Apply the voucher"),
            intro=_(
                "Points are adjusted first, then tiers. If one member lacks the points, nothing is applied."
            ),
            submit=_("Adjust"),
            perform=lambda v: services.apply_voucher(voucher=v, actor=request.user),
            success=_("Voucher %(code)s applied."),
        )

    @action(description=_("Cancel"), url_path="cancel", permissions=["cancel"], icon="cancel")
    def cancel_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._confirm_page(
            request,
            object_id,
            title=_("Cancel the voucher"),
            intro=_("A cancelled voucher can never be applied."),
            submit=_("Cancel the voucher"),
            perform=lambda v: services.cancel_voucher(voucher=v, actor=request.user),
            success=_("Voucher %(code)s cancelled."),
            danger=True,
        )

    @admin.action(description=_("Apply selected vouchers"), permissions=["apply"])
    def apply_selected(self, request: HttpRequest, queryset: QuerySet[AdjustmentVoucher]) -> None:
        for voucher in queryset.filter(status=VoucherStatus.PENDING).order_by("pk"):
            try:
                services.apply_voucher(voucher=voucher, actor=request.user)
            except DomainError as exc:
                messages.error(request, f"{voucher.code}: {exc}")
            else:
                messages.success(request, _("Voucher %(code)s applied.") % {"code": voucher.code})


@admin.register(AdjustmentSettings)
class AdjustmentSettingsAdmin(TenantHistoryAdmin):
    list_display = ["__str__", "four_eyes"]
    fields = ["four_eyes"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        staff = request_staff(request)
        if staff is not None and AdjustmentSettings.objects.of(staff.merchant_id).exists():
            return False
        return super().has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        merchant = obj.merchant if change else (staff.merchant if staff is not None else None)
        if merchant is None:
            raise Http404
        saved = services.save_settings(merchant=merchant, four_eyes=obj.four_eyes, actor=request.user)
        obj.pk = saved.pk
        obj._state.adding = False
