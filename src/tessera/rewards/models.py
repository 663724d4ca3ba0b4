"""What members get for their points and their top-ups (E6, E7, E8).

- `TopUpBonusRule`: "top up 5,000, receive 5,000 points"; "top up 1,000,000 đồng, receive 1,100,000 of
  value". Lives here, beside the other rewards; `sales.stored_value.top_up` applies it.
- `Gift` and `GiftRedemption`: a catalogue with stock and per-member limits; a redemption is requested,
  then fulfilled or cancelled (cancelled gives the points and the stock back).
- `PromoCodeOffer` and `PromoCode`: points turned into a unique code that the POS or the online shop
  validates and consumes through the API, each use exactly once (`PromoCodeUse`).
- `OccasionDiscount` and `OccasionUse`: a percentage off for an occasion — the member's birthday or
  membership anniversary, a date range, a weekday — with its caps and its stacking against the tier
  discount; `tessera.rewards.occasions` says how they apply, `sales` applies them (issue 15 §3).
- `BonusRule`, `BonusGrant`, `BonusBudgetShard`: points without a purchase (issue 15 §5) — sign-up,
  first purchase, completed profile, referral, custom events — with per-member limits and a budget
  (`tessera.rewards.bonuses`).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history
from tessera.tenancy.models import Merchant


class TopUpBonusRule(TenantOwned):
    """A bonus for topping up a stored-value card with at least `min_amount` (E6).

    When several rules match a top-up, the one with the highest `min_amount` applies (one rule per
    top-up: bonuses do not stack)."""

    name = models.CharField(_("name"), max_length=120)
    min_amount = models.BigIntegerField(
        _("minimum top-up"), help_text=_("In the currency's minor unit (VND: đồng; CNY: fen).")
    )
    bonus_points = models.BigIntegerField(_("bonus points"), default=0)
    bonus_value = models.BigIntegerField(
        _("bonus value"), default=0, help_text=_("Extra stored value loaded onto the card, in minor units.")
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("top-up bonus rule")
        verbose_name_plural = _("top-up bonus rules")
        ordering = ["-min_amount", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__gt=0, bonus_points__gte=0, bonus_value__gte=0),
                name="topup_bonus_amounts_valid",
            ),
            models.CheckConstraint(
                condition=Q(bonus_points__gt=0) | Q(bonus_value__gt=0), name="topup_bonus_gives_something"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Gift(TenantOwned):
    """A catalogue item members exchange points for (E7)."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    points_cost = models.BigIntegerField(_("points cost"))
    stock = models.BigIntegerField(_("stock"), help_text=_("How many are left to give."))
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        help_text=_("How many one member may hold (cancelled redemptions do not count); empty: no limit."),
    )
    image = models.ImageField(_("image"), upload_to="gifts/", blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("gift")
        verbose_name_plural = _("gifts")
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="gift_points_cost_positive"),
            # Backs the guarded stock update: a gift is never given more often than it is stocked.
            models.CheckConstraint(condition=Q(stock__gte=0), name="gift_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class RedemptionStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    FULFILLED = "fulfilled", _("Fulfilled")
    CANCELLED = "cancelled", _("Cancelled")


class GiftRedemption(TenantOwned):
    """A member's exchange of points for a gift: the points are spent at once; cancelling gives them back."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="gift_redemptions"
    )
    gift = models.ForeignKey(
        Gift, verbose_name=_("gift"), on_delete=models.PROTECT, related_name="redemptions"
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    points = models.BigIntegerField(_("points"))
    status = models.CharField(
        _("status"), max_length=20, choices=RedemptionStatus.choices, default=RedemptionStatus.REQUESTED
    )
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    #: The points spent; set in the same database transaction, once the entry (named after this row) exists.
    entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reversal_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=300, blank=True)

    history = keep_history()

    class Meta:
        verbose_name = _("gift redemption")
        verbose_name_plural = _("gift redemptions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0, points__gt=0), name="gift_redemption_positive")
        ]
        indexes = [models.Index(fields=["member", "gift", "status"])]
        permissions = [
            ("fulfil_giftredemption", _("Can fulfil gift redemptions")),
            ("cancel_giftredemption", _("Can cancel gift redemptions")),
        ]

    def __str__(self) -> str:
        return str(_("Redemption #%(id)s") % {"id": self.pk})

    @property
    def source(self) -> str:
        """How ledger entries name this redemption."""
        return f"gift:{self.pk}"


class CodeValueKind(models.TextChoices):
    AMOUNT = "amount", _("Fixed amount")
    PERCENT = "percent", _("Percentage")


class CodeChannel(models.TextChoices):
    ANY = "any", _("Point of sale and online shop")
    POS = "pos", _("Point of sale only")
    ONLINE = "online", _("Online shop only")


class PromoCodeOffer(TenantOwned):
    """What a member may turn points into: a code worth an amount or a percentage (E8)."""

    name = models.CharField(_("name"), max_length=200)
    points_cost = models.BigIntegerField(_("points cost"))
    value_kind = models.CharField(_("value kind"), max_length=10, choices=CodeValueKind.choices)
    amount = models.BigIntegerField(
        _("amount off"), null=True, blank=True, help_text=_("In the currency's minor unit.")
    )
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, null=True, blank=True)
    validity_days = models.PositiveIntegerField(_("valid for (days)"), default=30)
    usage_limit = models.PositiveIntegerField(_("uses per code"), default=1)
    channel = models.CharField(
        _("usable in"), max_length=10, choices=CodeChannel.choices, default=CodeChannel.ANY
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("promo code offer")
        verbose_name_plural = _("promo code offers")
        ordering = ["points_cost", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_cost__gt=0, validity_days__gt=0, usage_limit__gt=0),
                name="promo_offer_positive",
            ),
            models.CheckConstraint(
                condition=Q(value_kind="amount", amount__gt=0, percent__isnull=True)
                | Q(value_kind="percent", percent__gt=0, percent__lte=100, amount__isnull=True),
                name="promo_offer_value_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CodeStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    USED_UP = "used_up", _("Used up")
    CANCELLED = "cancelled", _("Cancelled")


class IssuedVia(models.TextChoices):
    PORTAL = "portal", _("Member portal")
    WIDGET = "widget", _("Website widget")
    API = "api", _("API")
    BACK_OFFICE = "back_office", _("Back office")


class PromoCode(TenantOwned):
    """A unique, random code with a value, a validity and a number of uses, bought with points (E8).

    The value, validity and uses are copied from the offer when issued, so editing the offer later
    changes no code already in a member's hands."""

    offer = models.ForeignKey(
        PromoCodeOffer, verbose_name=_("offer"), on_delete=models.PROTECT, related_name="codes"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="promo_codes"
    )
    code = models.CharField(_("code"), max_length=32)
    value_kind = models.CharField(_("value kind"), max_length=10, choices=CodeValueKind.choices)
    amount = models.BigIntegerField(_("amount off"), null=True, blank=True)
    percent = models.DecimalField(_("percent off"), max_digits=5, decimal_places=2, null=True, blank=True)
    channel = models.CharField(_("usable in"), max_length=10, choices=CodeChannel.choices)
    valid_until = models.DateTimeField(_("valid until"))
    usage_limit = models.PositiveIntegerField(_("uses"))
    uses_left = models.PositiveIntegerField(_("uses left"))
    status = models.CharField(
        _("status"), max_length=10, choices=CodeStatus.choices, default=CodeStatus.ACTIVE
    )
    points = models.BigIntegerField(_("points paid"))
    issued_via = models.CharField(_("issued via"), max_length=20, choices=IssuedVia.choices)
    #: The points spent; set in the same database transaction, once the entry (named after this row) exists.
    entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=300, blank=True)
    #: The points given back when an unused code was cancelled.
    reversal_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="promo_code_unique_per_merchant"),
            # Backs the guarded update in consume_code: a code is never used more often than allowed.
            models.CheckConstraint(
                condition=Q(uses_left__gte=0, uses_left__lte=models.F("usage_limit")),
                name="promo_code_uses_within_limit",
            ),
        ]
        permissions = [
            ("consume_promocode", _("Can validate and consume promo codes")),
            ("cancel_promocode", _("Can cancel unused promo codes (points back)")),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def source(self) -> str:
        """How ledger entries name this code."""
        return f"promo:{self.pk}"


class PromoCodeUse(TenantOwned):
    """One consumption of a code for an order; (code, order_ref) is unique, so a retry is not a second use."""

    promo_code = models.ForeignKey(
        PromoCode, verbose_name=_("promo code"), on_delete=models.PROTECT, related_name="uses"
    )
    order_ref = models.CharField(_("order reference"), max_length=100)
    order_amount = models.BigIntegerField(_("order amount"))
    discount = models.BigIntegerField(_("discount"))
    channel = models.CharField(_("channel"), max_length=10, choices=CodeChannel.choices)
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("promo code use")
        verbose_name_plural = _("promo code uses")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["promo_code", "order_ref"], name="promo_code_use_once_per_order"),
            models.CheckConstraint(
                condition=Q(order_amount__gte=0, discount__gte=0), name="promo_code_use_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.promo_code} → {self.order_ref}"


class OccasionKind(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Membership anniversary")
    DATE_RANGE = "date_range", _("Date range")
    WEEKDAY = "weekday", _("Weekday")


class OccasionPeriod(models.TextChoices):
    DAY = "day", _("The day itself")
    WEEK = "week", _("Its week (Monday to Sunday)")
    MONTH = "month", _("Its month")


class Stacking(models.TextChoices):
    """How an occasion's discount meets the member's tier discount (see `tessera.rewards.occasions`)."""

    BEST_OF = "best_of", _("Best of: the larger of the two")
    ADD = "add", _("Add: both")
    ONLY_ONE = "only_one", _("Only this one: replaces the tier discount")


class OccasionDiscount(TenantOwned):
    """A percentage off a sale on an occasion, in the sale's store's zone (issue 15 §3).

    `starts_on`/`ends_on` bound every kind (a date range needs both); `period` is the birthday's or the
    anniversary's window; `weekdays` holds ISO weekday digits ("67": Saturday and Sunday)."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("occasion"), max_length=20, choices=OccasionKind.choices)
    period = models.CharField(
        _("window"),
        max_length=10,
        choices=OccasionPeriod.choices,
        default=OccasionPeriod.DAY,
        help_text=_("Birthday and anniversary: the day, its week or its month."),
    )
    weekdays = models.CharField(_("weekdays"), max_length=7, blank=True)
    starts_on = models.DateField(_("from"), null=True, blank=True)
    ends_on = models.DateField(_("until"), null=True, blank=True, help_text=_("Included."))
    percent = models.DecimalField(
        _("discount %"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(100))],
    )
    max_discount = models.BigIntegerField(
        _("largest discount per sale"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("In the currency's minor unit; empty for no cap."),
    )
    max_uses = models.PositiveSmallIntegerField(
        _("uses per member per occasion"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "How many confirmed sales of a member may get it in one occasion (one birthday window, one "
            "anniversary window, the date range, one weekday); empty for no limit."
        ),
    )
    stacking = models.CharField(
        _("with the tier discount"), max_length=10, choices=Stacking.choices, default=Stacking.BEST_OF
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("occasion discount")
        verbose_name_plural = _("occasion discounts")
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__gt=0, percent__lte=100), name="occasion_discount_percent"
            ),
            models.CheckConstraint(
                condition=Q(max_discount__isnull=True) | Q(max_discount__gt=0), name="occasion_discount_cap"
            ),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(max_uses__gt=0), name="occasion_discount_uses"
            ),
            models.CheckConstraint(
                condition=~Q(kind="date_range") | Q(starts_on__isnull=False, ends_on__isnull=False),
                name="occasion_date_range_has_dates",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.kind == OccasionKind.DATE_RANGE and (self.starts_on is None or self.ends_on is None):
            raise ValidationError(_("A date range needs its first and last day."))
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("The last day comes before the first.")})
        if self.kind == OccasionKind.WEEKDAY and not self.weekdays:
            raise ValidationError({"weekdays": _("Choose at least one weekday.")})
        if self.weekdays and (
            not set(self.weekdays) <= set("1234567") or len(set(self.weekdays)) != len(self.weekdays)
        ):
            raise ValidationError({"weekdays": _("Weekdays are the digits 1 (Monday) to 7 (Sunday).")})


class OccasionUse(models.Model):
    """How many confirmed sales of a member used an occasion discount in one occasion (`period_start`:
    the first day of the birthday or anniversary window, the range's first day, the weekday's date).

    Only for discounts with `max_uses`; one row per (discount, member, occasion), counted up by the
    sale's confirmation in one upsert that refuses to pass the limit, and down by its void or by the
    refund that completes its return (`tessera.rewards.occasions`)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    occasion = models.ForeignKey(OccasionDiscount, on_delete=models.CASCADE, related_name="uses")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    uses = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["occasion", "member", "period_start"], name="occasion_use_one_row_per_occasion"
            ),
            models.CheckConstraint(condition=Q(uses__gte=0), name="occasion_use_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.occasion} × {self.uses}"


# --- points without a purchase (issue 15 §5) ----------------------------------------------------------


class BonusKind(models.TextChoices):
    SIGN_UP = "sign_up", _("Sign-up")
    FIRST_PURCHASE = "first_purchase", _("First purchase")
    PROFILE_COMPLETED = "profile_completed", _("Profile completed")
    REFERRAL = "referral", _("Referral")
    EVENT = "event", _("Custom event")


#: Kinds a member earns at most once per rule (per referred friend, for a referrer).
ONCE_KINDS = frozenset(
    {BonusKind.SIGN_UP, BonusKind.FIRST_PURCHASE, BonusKind.PROFILE_COMPLETED, BonusKind.REFERRAL}
)
#: Kinds earned by a purchase: taken back when that purchase is voided or refunded in full.
PURCHASE_KINDS = frozenset({BonusKind.FIRST_PURCHASE, BonusKind.REFERRAL})

#: The member fields a profile-completed rule may ask for.
PROFILE_FIELDS = (
    ("full_name", _("full name")),
    ("email", _("email")),
    ("birthday", _("birthday")),
    ("gender", _("gender")),
    ("address", _("address")),
    ("region", _("region")),
    ("occupation", _("occupation")),
)
#: "Complete" when the rule names no fields.
DEFAULT_PROFILE_FIELDS = ("full_name", "email", "birthday", "gender")

event_type_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,49}$", _("Lower-case letters, digits, “_”, “.” and “-”, e.g. app_installed.")
)


class BonusRule(TenantOwned):
    """Points for something other than a purchase's amount (issue 15 §5).

    `points` go to the member concerned (who signs up, buys first, completes the profile, is referred,
    or whose event it is); `referrer_points`, for a referral, to the member whose code they used. A
    first-purchase or referral rule asks for a purchase of at least `min_amount`. Limits count the
    rule's grants to one member per calendar day, week (from Monday) and month in the merchant's zone,
    and in all; `budget` stops the rule once that many points were given (`BonusBudgetShard`)."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=BonusKind.choices)
    event_type = models.CharField(
        _("event type"),
        max_length=50,
        blank=True,
        validators=[event_type_validator],
        help_text=_("For a custom event: the type the API posts, e.g. app_installed."),
    )
    points = models.BigIntegerField(_("points"), default=0, help_text=_("To the member concerned."))
    referrer_points = models.BigIntegerField(
        _("points to the referrer"),
        default=0,
        help_text=_("Referral only: to the member whose code was used."),
    )
    min_amount = models.BigIntegerField(
        _("minimum purchase"),
        default=0,
        help_text=_("First purchase and referral: in the currency's minor unit (VND: đồng)."),
    )
    profile_fields = models.JSONField(
        _("profile fields required"),
        default=list,
        blank=True,
        help_text=_(
            "Profile completed: the fields that must be filled in "
            "(none chosen: name, email, birthday, gender)."
        ),
    )
    per_day = models.PositiveIntegerField(_("at most per day"), null=True, blank=True)
    per_week = models.PositiveIntegerField(_("at most per week"), null=True, blank=True)
    per_month = models.PositiveIntegerField(_("at most per month"), null=True, blank=True)
    per_member = models.PositiveIntegerField(_("at most in all"), null=True, blank=True)
    budget = models.BigIntegerField(
        _("budget (points)"),
        null=True,
        blank=True,
        help_text=_("The rule stops once it has given this many points."),
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("bonus rule")
        verbose_name_plural = _("bonus rules")
        ordering = ["kind", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=0, referrer_points__gte=0, min_amount__gte=0),
                name="bonus_rule_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0) | Q(referrer_points__gt=0),
                name="bonus_rule_gives_something",
                violation_error_message=_("A bonus rule gives some points."),
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(budget__gt=0), name="bonus_rule_budget_positive"
            ),
            models.CheckConstraint(
                condition=(Q(kind="event") & ~Q(event_type="")) | (~Q(kind="event") & Q(event_type="")),
                name="bonus_rule_event_type_for_events_only",
                violation_error_message=_("A custom-event rule names its event type; other kinds name none."),
            ),
            models.CheckConstraint(
                condition=Q(kind="referral") | Q(referrer_points=0),
                name="bonus_rule_referrer_points_for_referrals",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def required_fields(self) -> tuple[str, ...]:
        return tuple(self.profile_fields) or DEFAULT_PROFILE_FIELDS


class BonusBudgetShard(TenantOwned):
    """One of a rule's budget counters. The budget is split over several rows so that grants to
    different members at the same moment update different rows (each grant updates one, the member's,
    with a conditional UPDATE): no till waits on another's bonus. A sale that grants no bonus never
    touches them."""

    rule = models.ForeignKey(BonusRule, on_delete=models.CASCADE, related_name="shards")
    shard = models.PositiveSmallIntegerField()
    cap = models.BigIntegerField()
    given = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "shard"], name="bonus_budget_shard_unique"),
            models.CheckConstraint(
                condition=Q(given__gte=0, cap__gte=0), name="bonus_budget_shard_not_negative"
            ),
        ]


class BonusGrant(TenantOwned):
    """Points one member received from a bonus rule, and the ledger entry that holds them.

    `referred`: on a referrer's grant, the member they brought in (once per pair). `sale_id`: the
    purchase that earned a first-purchase or referral bonus (a plain number: sales stand above this
    app). A grant taken back (the purchase voided or refunded in full) no longer counts toward limits."""

    rule = models.ForeignKey(
        BonusRule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="grants"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="bonus_grants"
    )
    referred = models.ForeignKey(
        "members.Member",
        verbose_name=_("referred member"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    points = models.BigIntegerField(_("points"))
    once = models.BooleanField(default=False)
    sale_id = models.BigIntegerField(_("sale"), null=True, blank=True)
    event_type = models.CharField(_("event type"), max_length=50, blank=True)
    shard = models.PositiveSmallIntegerField(null=True, blank=True)
    entry = models.ForeignKey("ledger.Entry", on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(_("given at"))
    taken_back_at = models.DateTimeField(_("taken back at"), null=True, blank=True)
    reversal_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("bonus given")
        verbose_name_plural = _("bonuses given")
        ordering = ["-granted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "member"],
                condition=Q(once=True, taken_back_at__isnull=True, referred__isnull=True),
                name="bonus_grant_once_per_member",
            ),
            models.UniqueConstraint(
                fields=["rule", "member", "referred"],
                condition=Q(once=True, taken_back_at__isnull=True, referred__isnull=False),
                name="bonus_grant_once_per_referral_pair",
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="bonus_grant_points_positive"),
        ]
        indexes = [
            models.Index(fields=["rule", "member", "granted_at"]),
            models.Index(fields=["merchant", "sale_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.points}"
