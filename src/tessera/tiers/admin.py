"""Back office for tiers (F1, F2): the program, the tiers, members' tiers with "why", the history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from tessera.core.errors import DomainError
from tessera.core.formatting import format_money, format_points
from tessera.members.models import Member
from tessera.tenancy.admin_base import (
    ReadOnlyAdminMixin,
    ServiceSaveMixin,
    TenantAdmin,
    TenantHistoryAdmin,
)
from tessera.tiers import services
from tessera.tiers.models import Basis, MemberTier, Tier, TierChange, TierProgram
from tessera.tiers.selectors import tier_status


class TierProgramForm(forms.ModelForm):
    """The program's fields, as the page and the management API (`tessera.tiers.api`) validate them."""

    class Meta:
        model = TierProgram
        fields = (
            "merchant",
            "basis",
            "window",
            "window_months",
            "review",
            "review_month",
            "review_day",
            "hold_months",
            "downgrade",
            "downgrade_notice_days",
            "is_active",
        )


@admin.register(TierProgram)
class TierProgramAdmin(ServiceSaveMixin, TenantHistoryAdmin):
    form = TierProgramForm
    list_display = [
        "__str__",
        "window_months",
        "hold_months",
        "review",
        "downgrade",
        "is_active",
        "last_reviewed_at",
    ]
    readonly_fields = ["last_reviewed_at", "notices_recorded_for"]
    service = staticmethod(lambda obj, user: services.save_program(program=obj, actor=user))

    def has_add_permission(self, request: HttpRequest) -> bool:
        staff = getattr(request, "staff", None)
        if staff is not None and TierProgram.objects.of(staff.merchant_id).exists():
            return False
        return super().has_add_permission(request)


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = [
            "code",
            "name",
            "rank",
            "threshold",
            "discount_percent",
            "earning_multiplier",
            "reward_points",
            "description",
        ]

    merchant_id: int | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.merchant_id is not None and not self.errors:
            candidate = Tier(
                pk=self.instance.pk,
                merchant_id=self.merchant_id,
                code=data.get("code") or "",
                rank=data.get("rank") or 0,
                threshold=data.get("threshold") or 0,
            )
            try:
                services.check_tier(candidate)
            except DomainError as exc:
                raise ValidationError(str(exc)) from None
        return data


@admin.register(Tier)
class TierAdmin(ServiceSaveMixin, TenantHistoryAdmin):
    form = TierForm
    list_display = [
        "rank",
        "code",
        "name",
        "threshold",
        "discount_percent",
        "earning_multiplier",
        "reward_points",
    ]
    list_display_links = ["code", "name"]
    ordering = ["rank"]
    service = staticmethod(lambda obj, user: services.save_tier(tier=obj, actor=user))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        staff = getattr(request, "staff", None)
        form.merchant_id = obj.merchant_id if obj is not None else (staff.merchant_id if staff else None)
        return form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Members and history point at tiers; a tier is retired by editing it, never deleted.
        return False


@admin.register(MemberTier)
class MemberTierAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """Read-only: tiers change only by ranking, reviews and adjustment vouchers."""

    list_display = ["member", "tier", "since", "held_until", "hold", "why_link"]
    list_filter = ["tier", "hold"]
    search_fields = ["member__search_text"]
    list_select_related = ["member", "tier"]

    @display(description=_("why"))
    def why_link(self, obj: MemberTier) -> str:
        url = reverse("admin:tiers_membertier_why", args=[obj.member_id])
        return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, _("Why?"))

    def get_urls(self) -> list[URLPattern]:
        why = path(
            "<int:member_id>/why/", self.admin_site.admin_view(self.why_view), name="tiers_membertier_why"
        )
        return [why, *super().get_urls()]

    def why_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        """Why this member has this tier: ranking in the window, hold, next tier and what is missing."""
        if not self.has_view_permission(request):
            raise DjangoPermissionDenied
        staff = getattr(request, "staff", None)
        members = Member.objects.all() if request.user.is_superuser else Member.objects.visible_to(staff)
        member = members.select_related("merchant").filter(pk=member_id).first()
        if member is None:
            raise Http404
        status = tier_status(member)
        currency = member.merchant.currency

        def amount(value: int) -> str:
            return format_money(value, currency) if status.basis == Basis.SPEND else format_points(value)

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Why is %(member)s at this tier?") % {"member": member},
            "member": member,
            "status": status,
            "ranking": amount(status.ranking),
            "missing": amount(status.missing),
            "next_threshold": amount(status.next_tier.threshold) if status.next_tier else "",
            "drop_ranking": amount(status.drop_ranking),
            "tier_threshold": amount(status.tier.threshold) if status.tier else "",
            "history": TierChange.objects.filter(member=member).select_related(
                "from_tier", "to_tier", "created_by"
            ),
        }
        return TemplateResponse(request, "tiers/admin/why.html", context)


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdminMixin, TenantAdmin):
    """The history of every tier change (F1, J3), read-only."""

    list_display = ["at", "member", "from_tier", "to_tier", "reason", "ranking", "voucher_code", "created_by"]
    list_filter = ["reason", "to_tier"]
    search_fields = ["member__search_text", "voucher_code"]
    list_select_related = ["member", "from_tier", "to_tier", "created_by"]
    date_hierarchy = "at"
