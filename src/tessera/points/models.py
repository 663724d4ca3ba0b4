"""Each merchant's points policy, one row per merchant, created with defaults on first use (issue 13
item 1, issue 15 §1). Read through `tessera.points.policy.policy_of`, never field by field."""

from __future__ import annotations

from calendar import monthrange
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history
from tessera.core.money import minor_digits
from tessera.tenancy.models import Merchant


class ExpiryKind(models.TextChoices):
    NEVER = "never", _("Never")
    DAYS = "days", _("N days after earning")
    MONTHS = "months", _("N months after earning")
    CALENDAR_YEARS = "calendar_years", _("At the end of the Nth calendar year after earning")
    YEARLY_RESET = "yearly_reset", _("Every year on a reset date")


def default_notice_days() -> int:
    """New policies warn members this many days ahead (the installation's TESSERA_EXPIRY_NOTICE_DAYS)."""
    return int(getattr(settings, "TESSERA_EXPIRY_NOTICE_DAYS", 14))


class Policy(TenantOwned):
    """How a merchant's points are earned, what they are worth, and when they open and expire."""

    merchant = models.OneToOneField(
        Merchant, verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="points_policy"
    )
    earn_points = models.DecimalField(
        _("points earned"),
        max_digits=12,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Points earned for every 'amount per points' spent; the result is rounded down."),
    )
    earn_per_amount = models.PositiveBigIntegerField(
        _("amount per points"),
        default=10000,
        validators=[MinValueValidator(1)],
        help_text=_("In the currency's minor unit (VND: đồng; CNY: fen)."),
    )
    point_value = models.DecimalField(
        _("value of one point"),
        max_digits=12,
        decimal_places=4,
        default=Decimal(100),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("In the currency's minor unit, when points pay for a purchase (rounded down)."),
    )
    pending_days = models.PositiveSmallIntegerField(
        _("pending days"), default=0, help_text=_("Earned points can be spent only after this return window.")
    )
    expiry = models.CharField(
        _("points expire"),
        max_length=20,
        choices=ExpiryKind.choices,
        default=ExpiryKind.MONTHS,
        help_text=_(
            "Counted from the date points are earned, in the merchant's time zone. A change applies to "
            "points earned afterwards: points already earned keep their expiry date."
        ),
    )
    expiry_period = models.PositiveSmallIntegerField(
        _("N (days, months or years)"),
        default=12,
        validators=[MaxValueValidator(3660)],
        help_text=_(
            "How many days, months or calendar years. For calendar years, 0 is the end of the year of "
            "earning; with months rounded up to the month's end, 0 is the end of the month of earning."
        ),
    )
    round_to_month_end = models.BooleanField(
        _("round up to the end of the month"),
        default=False,
        help_text=_("With months: points expire when the month N months after earning ends."),
    )
    reset_month = models.PositiveSmallIntegerField(
        _("reset month"), default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    reset_day = models.PositiveSmallIntegerField(
        _("reset day"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_(
            "With a yearly reset, every point expires when this day begins. Points earned on the reset "
            "day itself last until the next year's. 29 February is 28 February in other years."
        ),
    )
    non_earning_skus = models.JSONField(
        _("SKUs that earn no points"),
        default=list,
        blank=True,
        help_text=_(
            "Delivery, service and other lines with these SKUs earn nothing under any rule or the flat "
            "rate; they still count in the invoice total."
        ),
    )
    notice_days = models.PositiveSmallIntegerField(
        _("notice days"),
        default=default_notice_days,
        validators=[MaxValueValidator(366)],
        help_text=_("Members are told this many days before their points expire."),
    )

    history = keep_history()

    class Meta:
        verbose_name = _("points policy")
        verbose_name_plural = _("points policy")

    def __str__(self) -> str:
        return str(_("Points policy"))

    def clean(self) -> None:
        super().clean()
        # 2028 is a leap year: 29 February is a valid reset day.
        if self.expiry == ExpiryKind.YEARLY_RESET and self.reset_day > monthrange(2028, self.reset_month)[1]:
            raise ValidationError({"reset_day": _("That month has no such day.")})
        # "0 months" means something only when rounded up to the month's end: the month of earning.
        at_least_one = self.expiry == ExpiryKind.DAYS or (
            self.expiry == ExpiryKind.MONTHS and not self.round_to_month_end
        )
        if at_least_one and self.expiry_period < 1:
            raise ValidationError({"expiry_period": _("Give at least 1.")})
        if any(len(str(sku)) > 64 for sku in self.non_earning_skus or ()):
            raise ValidationError({"non_earning_skus": _("A SKU has at most 64 characters.")})

    @classmethod
    def for_merchant(cls, merchant: Merchant) -> Policy:
        """The merchant's policy, created on first use with defaults that suit its currency."""
        found = cls.objects.filter(merchant=merchant).first()
        if found is not None:
            return found
        # VND: 1 point per 10,000 đồng, a point worth 100 đồng; two-digit currencies: per 1.00, worth 0.01.
        two_digits = minor_digits(merchant.currency) > 0
        created, _created = cls.objects.get_or_create(
            merchant=merchant,
            defaults={
                "earn_per_amount": 100 if two_digits else 10000,
                "point_value": Decimal(1) if two_digits else Decimal(100),
            },
        )
        return created
