"""Back office for the website widget (G2): allowed origins, on/off, and the secret, shown once; and the
login codes the merchant's SMS provider did not take (issue 12)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tessera.core.errors import DomainError
from tessera.portal import services
from tessera.portal.models import CodeSendFailure, PortalSettings, WidgetSettings
from tessera.tenancy.admin_base import ReadOnlyAdminMixin, TenantAdmin, request_staff


def _show_secret(request: HttpRequest, secret: str) -> None:
    messages.warning(
        request,
        _("The widget secret is %(secret)s — copy it now, it is not shown again.") % {"secret": secret},
    )


@admin.register(WidgetSettings)
class WidgetSettingsAdmin(TenantAdmin):
    list_display = ("merchant", "is_enabled", "secret_rotated_at")
    fields = ("is_enabled", "allowed_origins", "secret_rotated_at")
    readonly_fields = ("secret_rotated_at",)
    actions = ["rotate_secret"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        staff = request_staff(request)
        exists = staff is not None and WidgetSettings.objects.filter(merchant_id=staff.merchant_id).exists()
        return staff is not None and not exists and super().has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        widget = obj
        if not change:
            staff = request_staff(request)
            assert staff is not None  # has_add_permission
            created = services.rotate_widget_secret(merchant=staff.merchant, actor=request.user)
            _show_secret(request, created.secret)
            widget = created.settings
            obj.pk, obj.merchant = widget.pk, staff.merchant  # the admin logs and shows the created row
        try:
            services.update_widget_settings(
                widget=widget,
                allowed_origins=obj.allowed_origins.splitlines(),
                is_enabled=obj.is_enabled,
                actor=request.user,
            )
        except DomainError as exc:
            messages.error(request, str(exc))

    @admin.action(description=gettext_lazy("Give the widget a new secret"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WidgetSettings]) -> None:
        for widget in queryset.select_related("merchant"):
            _show_secret(
                request, services.rotate_widget_secret(merchant=widget.merchant, actor=request.user).secret
            )


@admin.register(PortalSettings)
class PortalSettingsAdmin(TenantAdmin):
    """What members may do for themselves in the portal (issue 15 §6: send points to another member)."""

    list_display = ("merchant", "members_may_transfer", "transfer_max_points", "transfers_per_day")
    fields = ("members_may_transfer", "transfer_max_points", "transfers_per_day")

    def has_add_permission(self, request: HttpRequest) -> bool:
        staff = request_staff(request)
        exists = staff is not None and PortalSettings.objects.filter(merchant_id=staff.merchant_id).exists()
        return staff is not None and not exists and super().has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool) -> None:
        staff = request_staff(request)
        merchant = obj.merchant if change or staff is None else staff.merchant  # an operator picks one
        saved = services.update_portal_settings(
            merchant=merchant, actor=request.user, **{name: getattr(obj, name) for name in self.fields}
        )
        obj.pk, obj.merchant = saved.pk, merchant  # the admin logs and shows the saved row


@admin.register(CodeSendFailure)
class CodeSendFailureAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Members who asked for a login code and got none because the provider refused or failed."""

    list_display = ("created_at", "member", "phone", "error")
    fields = ("created_at", "member", "phone", "error")
    readonly_fields = fields
    search_fields = ("phone",)
    list_select_related = ("member",)
