"""The back office's "Points policy" page: one per merchant, opened straight from the menu."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from tessera.core.forms import TextListField
from tessera.points import services
from tessera.points.models import Policy
from tessera.tenancy.admin_base import TenantHistoryAdmin, request_staff


class PolicyForm(forms.ModelForm):
    """The policy's fields, as the page and the management API (`tessera.points.api`) validate them."""

    non_earning_skus = TextListField(
        label=_("SKUs that earn no points"),
        help_text=_(
            "Separated by commas. Delivery, service and other lines with these SKUs earn nothing under "
            "any rule or the flat rate; they still count in the invoice total."
        ),
    )

    class Meta:
        model = Policy
        fields = services.FIELDS


@admin.register(Policy)
class PolicyAdmin(TenantHistoryAdmin):
    form = PolicyForm
    list_display = ("merchant", "earn_points", "earn_per_amount", "point_value", "pending_days", "expiry")
    fieldsets = (
        (_("Earning"), {"fields": services.EARNING_FIELDS}),
        (
            _("Expiry"),
            {
                "fields": services.EXPIRY_FIELDS,
                "description": _(
                    "A change applies to points earned after it is saved; points already earned keep "
                    "the expiry date they were given."
                ),
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Staff go straight to their merchant's policy (created with defaults on first use)."""
        staff = request_staff(request)
        if staff is None or self.is_operator(request):
            return super().changelist_view(request, extra_context)
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        policy = Policy.for_merchant(staff.merchant)
        return HttpResponseRedirect(reverse("admin:points_policy_change", args=[policy.pk]))

    def save_model(self, request: HttpRequest, obj: Policy, form: ModelForm[Any], change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in services.FIELDS if name in form.cleaned_data}
        saved = services.save_policy(merchant=obj.merchant, actor=request.user, **fields)
        obj.pk = saved.pk
        messages.info(
            request,
            _(
                "The new policy applies to points earned from now on. Points already earned keep their "
                "expiry dates."
            ),
        )

    def response_change(self, request: HttpRequest, obj: Policy) -> HttpResponse:
        # Back to the page itself: for staff the list is this page.
        if "_continue" not in request.POST and not self.is_operator(request):
            self.message_user(request, _("The points policy was saved."), messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)
