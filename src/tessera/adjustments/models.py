"""Adjustment vouchers (F2, 004 §3 "Tạo phiếu điều chỉnh"): points and tier changes for one or many
members, saved pending and applied by "adjust" — points first, then tier."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history
from tessera.tiers.selectors import VOUCHER_SOURCE_PREFIX


class AdjustmentSettings(TenantOwned):
    """A merchant's rules for vouchers."""

    four_eyes = models.BooleanField(
        _("four-eyes approval"),
        default=False,
        help_text=_("The person who created a voucher cannot apply it; someone else must."),
    )

    history = keep_history()

    class Meta:
        verbose_name = _("adjustment settings")
        verbose_name_plural = _("adjustment settings")
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="adjustment_settings_one_per_merchant")
        ]

    def __str__(self) -> str:
        return str(_("Adjustment settings"))

    @classmethod
    def for_merchant(cls, merchant_id: int) -> AdjustmentSettings:
        """The merchant's settings; defaults (no four-eyes) when never saved. A read: nothing is created."""
        return cls.objects.of(merchant_id).first() or cls(merchant_id=merchant_id)


class VoucherStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPLIED = "applied", _("Applied")
    CANCELLED = "cancelled", _("Cancelled")


class AdjustmentVoucher(TenantOwned):
    code = models.CharField(_("code"), max_length=40)
    note = models.TextField(_("note"), blank=True)
    tags = models.CharField(_("tags"), max_length=300, blank=True, help_text=_("Separated by commas."))
    status = models.CharField(
        _("status"), max_length=20, choices=VoucherStatus.choices, default=VoucherStatus.PENDING
    )
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("applied by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    history = keep_history()

    class Meta:
        verbose_name = _("adjustment voucher")
        verbose_name_plural = _("adjustment vouchers")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="voucher_code_unique_per_merchant")
        ]
        indexes = [models.Index(fields=["merchant", "status"])]
        permissions = [("apply_adjustmentvoucher", _("Can apply adjustment vouchers"))]

    def __str__(self) -> str:
        return self.code

    @property
    def tag_list(self) -> list[str]:
        return [t.strip() for t in self.tags.split(",") if t.strip()]

    @property
    def source(self) -> str:
        """The ledger `source` of the voucher's entries; tiers counts them as ranking points."""
        return f"{VOUCHER_SOURCE_PREFIX}{self.pk}"


class AdjustmentLine(TenantOwned):
    """One member's adjustment: points to add (positive) or take (negative), and/or a tier to set."""

    voucher = models.ForeignKey(
        AdjustmentVoucher, verbose_name=_("voucher"), on_delete=models.CASCADE, related_name="lines"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    points = models.BigIntegerField(_("points"), default=0, help_text=_("Positive adds, negative takes."))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    target_tier = models.ForeignKey(
        "tiers.Tier",
        verbose_name=_("set tier to"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    entry = models.ForeignKey(
        "ledger.Entry",
        verbose_name=_("ledger entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    tier_change = models.ForeignKey(
        "tiers.TierChange",
        verbose_name=_("tier change"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("adjustment line")
        verbose_name_plural = _("adjustment lines")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["voucher", "member"], name="voucher_line_one_per_member"),
            models.CheckConstraint(
                condition=~Q(points=0) | Q(target_tier__isnull=False), name="voucher_line_changes_something"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.points:+d}"
