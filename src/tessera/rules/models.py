"""Earning rules (E5): when a purchase earns points, how many, and how rules combine.

A rule is edited in place, but every save writes an immutable `EarningRuleVersion` (a JSON snapshot of
the rule) and points the rule at it. The simulator evaluates the current versions only, and a sale
records the version ids it used, so editing a rule never changes the past. How the conditions and
effects are read, and how rules combine, is documented in `tessera.rules.simulator`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned
from tessera.rules import lines

#: Bounds of a rule's result, so a typo cannot credit a billion points.
MAX_POINTS = 10**9


class Effect(models.TextChoices):
    PER_AMOUNT = "per_amount", _("Points per amount spent")
    MULTIPLIER = "multiplier", _("Multiplier of the points before it")
    FIXED = "fixed", _("Fixed bonus")
    FORMULA = "formula", _("Formula")
    LINE_MULTIPLIER = "line_multiplier", _("Multiplier per product (by SKU, category or label)")
    PRODUCT = "product", _("Fixed points for buying a product")


class ProductPer(models.TextChoices):
    UNIT = "unit", _("Per unit bought")
    SALE = "sale", _("Once per sale")


class Rounding(models.TextChoices):
    DOWN = "down", _("Down")
    HALF_UP = "half_up", _("To the nearest (half up)")
    UP = "up", _("Up")


class Combine(models.TextChoices):
    ADD = "add", _("Add to the other rules")
    BEST_OF = "best_of", _("Best of: only the best of these rules counts")
    STOP = "stop", _("Add, then stop: later rules do not apply")


class BirthdayWindow(models.TextChoices):
    ANY = "", _("Any day")
    DAY = "day", _("On the member's birthday")
    WEEK = "week", _("In the week (Monday to Sunday) of the birthday")
    MONTH = "month", _("In the month of the birthday")


class Weekday(models.IntegerChoices):
    MONDAY = 1, _("Monday")
    TUESDAY = 2, _("Tuesday")
    WEDNESDAY = 3, _("Wednesday")
    THURSDAY = 4, _("Thursday")
    FRIDAY = 5, _("Friday")
    SATURDAY = 6, _("Saturday")
    SUNDAY = 7, _("Sunday")


class EarningRule(TenantOwned):
    """One earning rule of a merchant. An empty condition means "any"."""

    name = models.CharField(_("name"), max_length=100)
    priority = models.IntegerField(
        _("priority"),
        default=100,
        help_text=_("Rules apply from the lowest number up; equal numbers in the order they were created."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("The rule stops applying at this moment.")
    )
    # Conditions. Ids and codes are kept as lists so a version snapshot is self-contained.
    store_ids = models.JSONField(_("stores"), default=list, blank=True)
    card_type_ids = models.JSONField(_("card types"), default=list, blank=True)
    tier_codes = models.JSONField(_("tiers"), default=list, blank=True)
    weekdays = models.JSONField(_("days of the week"), default=list, blank=True)
    hour_from = models.PositiveSmallIntegerField(
        _("from hour"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(23)],
        help_text=_("Store time, 0–23, included."),
    )
    hour_until = models.PositiveSmallIntegerField(
        _("until hour"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text=_("Store time, 1–24, excluded. Smaller than 'from hour' for a night across midnight."),
    )
    birthday_window = models.CharField(
        _("birthday"), max_length=10, choices=BirthdayWindow.choices, default=BirthdayWindow.ANY, blank=True
    )
    min_total = models.PositiveBigIntegerField(
        _("minimum invoice total"), null=True, blank=True, help_text=_("In the currency's minor unit.")
    )
    min_top_ups = models.PositiveIntegerField(_("at least this many top-ups so far"), null=True, blank=True)
    max_top_ups = models.PositiveIntegerField(_("at most this many top-ups so far"), null=True, blank=True)
    # Which lines the rule counts (issue 15 §4). Labels are written "key:value".
    include_skus = models.JSONField(_("only SKUs"), default=list, blank=True)
    include_categories = models.JSONField(_("only categories"), default=list, blank=True)
    include_labels = models.JSONField(_("only labels"), default=list, blank=True)
    exclude_skus = models.JSONField(_("except SKUs"), default=list, blank=True)
    exclude_categories = models.JSONField(_("except categories"), default=list, blank=True)
    exclude_labels = models.JSONField(_("except labels"), default=list, blank=True)
    min_quantity = models.PositiveIntegerField(
        _("minimum quantity"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Units of the rule's products the basket must hold."),
    )
    # Effect.
    effect = models.CharField(_("effect"), max_length=20, choices=Effect.choices, default=Effect.PER_AMOUNT)
    points = models.DecimalField(
        _("points"),
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Points per amount: this many points for every 'per amount' spent."),
    )
    per_amount = models.PositiveBigIntegerField(
        _("per amount"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("In the currency's minor unit (VND: đồng; CNY: fen)."),
    )
    multiplier = models.DecimalField(
        _("multiplier"),
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("×2 doubles the points of the rules before this one."),
    )
    rounding = models.CharField(_("rounding"), max_length=10, choices=Rounding.choices, default=Rounding.DOWN)
    bonus_points = models.PositiveIntegerField(
        _("bonus points"), null=True, blank=True, validators=[MaxValueValidator(MAX_POINTS)]
    )
    formula = models.TextField(_("formula"), max_length=500, blank=True)
    #: [{"match": "sku" | "category" | "label", "value": "ABC" | "brand:loreal", "factor": "2"}, …]
    line_multipliers = models.JSONField(_("multipliers per product"), default=list, blank=True)
    product_per = models.CharField(
        _("points given"), max_length=10, choices=ProductPer.choices, default=ProductPer.UNIT
    )
    combine = models.CharField(_("combine"), max_length=10, choices=Combine.choices, default=Combine.ADD)
    current_version = models.ForeignKey(
        "EarningRuleVersion",
        verbose_name=_("current version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["priority", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="earningrule_name_unique_per_merchant"),
            models.CheckConstraint(
                condition=~Q(effect="per_amount") | Q(points__isnull=False, per_amount__gt=0),
                name="earningrule_per_amount_params",
            ),
            models.CheckConstraint(
                condition=~Q(effect="multiplier") | Q(multiplier__gte=1), name="earningrule_multiplier_params"
            ),
            models.CheckConstraint(
                condition=~Q(effect="fixed") | Q(bonus_points__isnull=False), name="earningrule_fixed_params"
            ),
            models.CheckConstraint(
                condition=~Q(effect="formula") | ~Q(formula=""), name="earningrule_formula_params"
            ),
            models.CheckConstraint(
                condition=~Q(effect="product") | Q(bonus_points__isnull=False),
                name="earningrule_product_params",
            ),
            models.CheckConstraint(
                condition=Q(hour_from__isnull=True, hour_until__isnull=True)
                | Q(hour_from__isnull=False, hour_until__isnull=False),
                name="earningrule_hours_both_or_none",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "is_active"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """What one rule can check by itself: its effect has its parameters, its formula computes."""
        from tessera.rules import formula as formulas

        errors: dict[str, Any] = {}
        required = {
            Effect.PER_AMOUNT: ("points", "per_amount"),
            Effect.MULTIPLIER: ("multiplier",),
            Effect.FIXED: ("bonus_points",),
            Effect.FORMULA: (),
            Effect.PRODUCT: ("bonus_points",),
        }.get(Effect(self.effect), ())
        for name in required:
            if getattr(self, name) is None:
                errors[name] = _("Required for this effect.")
        if self.effect == Effect.FORMULA:
            try:
                formulas.check(self.formula)
            except formulas.FormulaError as exc:
                errors["formula"] = _("This formula cannot be used: %(reason)s") % {"reason": exc}
        if (self.hour_from is None) != (self.hour_until is None):
            errors["hour_until"] = _("Give both hours, or neither.")
        elif self.hour_from is not None and self.hour_from == self.hour_until:
            errors["hour_until"] = _("The hours cannot be equal; leave both empty for the whole day.")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("The end must come after the start.")
        if (
            self.min_top_ups is not None
            and self.max_top_ups is not None
            and self.min_top_ups > self.max_top_ups
        ):
            errors["max_top_ups"] = _("The maximum is below the minimum.")
        if self.effect == Effect.LINE_MULTIPLIER and not self.line_multipliers:
            errors["line_multipliers"] = _("Give at least one multiplier.")
        for item in self.line_multipliers or []:
            try:
                lines.multiplier_of(item)
            except lines.MultiplierError as exc:
                errors["line_multipliers"] = str(exc)
        for name in ("include_labels", "exclude_labels"):
            if any(":" not in str(label) for label in getattr(self, name) or []):
                errors[name] = _("Write labels as key:value.")
        if any(day not in Weekday.values for day in self.weekdays or []):
            errors["weekdays"] = _("Days of the week are 1 (Monday) to 7 (Sunday).")
        if errors:
            raise ValidationError(errors)


class EarningRuleVersion(TenantOwned):
    """An immutable snapshot of a rule as saved. Sales point at these, so the past never changes."""

    rule = models.ForeignKey(
        EarningRule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField(_("version"))
    snapshot = models.JSONField(_("rule as saved"))
    # Who saved it is `created_by` for a person; a change through the management API names its key.
    api_key = models.ForeignKey(
        "tenancy.ApiKey",
        verbose_name=_("API key"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("earning rule version")
        verbose_name_plural = _("earning rule versions")
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="earningruleversion_number_unique")
        ]

    def __str__(self) -> str:
        return str(
            _("%(rule)s, version %(number)s") % {"rule": self.snapshot.get("name"), "number": self.number}
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Earning rule versions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Earning rule versions are immutable.")
