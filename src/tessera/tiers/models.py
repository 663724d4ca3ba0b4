"""Tiers (F1): a merchant's ranks, each member's current tier, and the history of every change.

Ranking is computed from the ledger, never stored: `selectors.ranking` says how (`RankingSpend` adds
the spend of sales that earned no points, which have no ledger entry). `MemberTier` is the member's
current state (one row per member that ever had a tier); `TierChange` is append-only history.

Qualification and holds (issue 15 §2): the ranking window says what counts; the hold (`hold_months`)
says how long a tier reached cannot drop, whatever the ranking; the downgrade policy says how far a
review lowers a tier, and the review schedule when. `DowngradeNotice` records the "will drop on …"
forecasts the marketing app turns into messages.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history


class Basis(models.TextChoices):
    SPEND = "spend", _("Ranking spend")
    POINTS = "points", _("Ranking points")


class Window(models.TextChoices):
    ROLLING_MONTHS = "rolling_months", _("The last N months (rolling)")
    CALENDAR_YEAR = "calendar_year", _("The calendar year")
    SINCE_LAST_CHANGE = "since_last_change", _("Since the last tier change")


class Review(models.TextChoices):
    DAILY = "daily", _("Every day")
    MONTHLY = "monthly", _("On the first day of each month")
    YEARLY = "yearly", _("Once a year, on the review date")
    CONTINUOUS = "continuous", _("Continuously (at every hourly run)")


class Downgrade(models.TextChoices):
    EARNED = "earned", _("To the tier the ranking supports")
    ONE_TIER = "one_tier", _("One tier at a time")


class TierProgram(TenantOwned):
    """How a merchant ranks members. Upgrades are immediate; downgrades happen at each review."""

    basis = models.CharField(_("rank by"), max_length=10, choices=Basis.choices, default=Basis.SPEND)
    window = models.CharField(_("over"), max_length=20, choices=Window.choices, default=Window.ROLLING_MONTHS)
    window_months = models.PositiveSmallIntegerField(
        _("months"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_(
            "Rolling window: its length. Since the last change: how long a member has to qualify again "
            "for their tier before a review may lower it."
        ),
    )
    review = models.CharField(
        _("review for downgrades"), max_length=10, choices=Review.choices, default=Review.MONTHLY
    )
    review_month = models.PositiveSmallIntegerField(
        _("review month"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text=_("Yearly review: the month of the review date."),
    )
    review_day = models.PositiveSmallIntegerField(
        _("review day"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(31)],
        help_text=_("Yearly review: the day of the review date (29 February is the 28th in other years)."),
    )
    hold_months = models.PositiveSmallIntegerField(
        _("hold (months)"),
        default=0,
        validators=[MaxValueValidator(120)],
        help_text=_(
            "After a member reaches a higher tier, no review lowers it for this many months, whatever "
            "the ranking (0: no hold). Independent of the ranking window."
        ),
    )
    downgrade = models.CharField(
        _("a review lowers a tier"), max_length=10, choices=Downgrade.choices, default=Downgrade.EARNED
    )
    downgrade_notice_days = models.PositiveSmallIntegerField(
        _("downgrade notice (days before)"),
        default=0,
        validators=[MaxValueValidator(366)],
        help_text=_(
            "Record a “your tier will drop on …” notice this many days before the review that will lower "
            "a member's tier, for the marketing notice of that kind (0: none)."
        ),
    )
    notices_recorded_for = models.DateTimeField(
        _("downgrade notices recorded for the review of"), null=True, blank=True, editable=False
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_reviewed_at = models.DateTimeField(_("last reviewed at"), null=True, blank=True, editable=False)
    #: The continuous review's watermark: the instant of its last run that committed, from which the
    #: next run reviews only the members whose ranking could have changed since (issue 15 §2). Empty
    #: (the next run reviews everyone) until a first run, and again after the program or a tier changed.
    reviewed_through = models.DateTimeField(
        _("continuous review done through"), null=True, blank=True, editable=False
    )

    history = keep_history()

    class Meta:
        verbose_name = _("tier program")
        verbose_name_plural = _("tier programs")
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="tier_program_one_per_merchant"),
            models.CheckConstraint(
                condition=Q(window_months__gte=1, window_months__lte=120), name="tier_program_window_months"
            ),
            models.CheckConstraint(
                condition=Q(hold_months__lte=120, downgrade_notice_days__lte=366),
                name="tier_program_hold_and_notice",
            ),
            models.CheckConstraint(
                condition=Q(review_month__gte=1, review_month__lte=12, review_day__gte=1, review_day__lte=31),
                name="tier_program_review_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_basis_display()} — {self.get_window_display()}"


class Tier(TenantOwned):
    """A rank. Reached when the ranking in the window is at least `threshold`; higher rank, higher tier."""

    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    rank = models.PositiveSmallIntegerField(_("rank"), help_text=_("1 is the lowest tier."))
    threshold = models.BigIntegerField(
        _("threshold"),
        help_text=_("Ranking spend (in the currency's smallest unit) or ranking points needed to reach it."),
    )
    discount_percent = models.DecimalField(
        _("discount %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    earning_multiplier = models.DecimalField(
        _("earning multiplier"),
        max_digits=6,
        decimal_places=3,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Points earned are multiplied by this (1 = no change)."),
    )
    reward_points = models.PositiveIntegerField(
        _("reward points"), default=0, help_text=_("Given once when a member first reaches the tier.")
    )
    description = models.TextField(_("description"), blank=True)

    history = keep_history()

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["merchant", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="tier_code_unique_per_merchant"),
            models.UniqueConstraint(fields=["merchant", "rank"], name="tier_rank_unique_per_merchant"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative"),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0, discount_percent__lte=100), name="tier_discount_percent"
            ),
            models.CheckConstraint(condition=Q(earning_multiplier__gte=0), name="tier_multiplier"),
        ]

    def __str__(self) -> str:
        return self.name


class Hold(models.TextChoices):
    NONE = "", _("None")
    MANUAL_UPGRADE = "manual_upgrade", _("Kept after a manual upgrade")
    MANUAL_DOWNGRADE = "manual_downgrade", _("Kept after a manual downgrade")


class MemberTier(TenantOwned):
    """A member's current tier.

    `held_until`: the program's hold after the member reached this tier; no review lowers it before.
    `window_start` starts the "since the last change" window: the last change, or the last review at
    which the member qualified again. A hold freezes the tier (no automatic change either way) until the
    tier the member earns ranks above `hold_reference`: the tier given by a manual upgrade, or the tier
    held before a manual downgrade (F2).
    """

    member = models.OneToOneField(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_state"
    )
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: below the lowest tier."),
    )
    since = models.DateTimeField(_("since"))
    window_start = models.DateTimeField(_("ranking counted from"))
    held_until = models.DateTimeField(_("tier kept at least until"), null=True, blank=True)
    hold = models.CharField(_("hold"), max_length=20, choices=Hold.choices, blank=True, default=Hold.NONE)
    hold_reference = models.ForeignKey(
        Tier,
        verbose_name=_("held until a tier above"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")
        constraints = [
            models.CheckConstraint(
                condition=Q(hold="", hold_reference__isnull=True)
                | (~Q(hold="") & Q(hold_reference__isnull=False)),
                name="member_tier_hold_has_reference",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "tier"]),
            models.Index(fields=["merchant", "member"]),
            # The hourly downgrade notices of a continuous review look for holds ending soon.
            models.Index(
                fields=["merchant", "held_until"],
                condition=Q(held_until__isnull=False),
                name="member_tier_held_until",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier_id}"


class ChangeReason(models.TextChoices):
    UPGRADE = "upgrade", _("Upgrade: ranking reached the tier")
    DOWNGRADE = "downgrade", _("Downgrade: review found the ranking below the tier")
    MANUAL_UPGRADE = "manual_upgrade", _("Manual upgrade (adjustment voucher)")
    MANUAL_DOWNGRADE = "manual_downgrade", _("Manual downgrade (adjustment voucher)")


class TierChange(TenantOwned):
    """One change of a member's tier, with why. Append-only; `created_by` is who made it (None: system)."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=ChangeReason.choices)
    ranking = models.BigIntegerField(_("ranking at the time"))
    voucher_code = models.CharField(_("adjustment voucher"), max_length=40, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["merchant", "at"]), models.Index(fields=["member", "at"])]

    def __str__(self) -> str:
        return f"{self.from_tier or '—'} → {self.to_tier or '—'}"


class TierReward(TenantOwned):
    """The reward for reaching a tier, given once per member and tier, ever (the constraint says so)."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField(_("points"))
    entry = models.ForeignKey(
        "ledger.Entry", verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="+"
    )
    change = models.ForeignKey(
        TierChange, verbose_name=_("tier change"), on_delete=models.PROTECT, related_name="rewards"
    )

    class Meta:
        verbose_name = _("tier reward")
        verbose_name_plural = _("tier rewards")
        constraints = [
            models.UniqueConstraint(fields=["member", "tier"], name="tier_reward_once_per_member_and_tier")
        ]

    def __str__(self) -> str:
        return f"+{self.points}"


class RankingSpend(TenantOwned):
    """Spend that counts toward the ranking but is on no ledger entry: a confirmed sale that earned no
    points writes no EARN entry, so its amount is kept here (positive), and what its void or returns
    took back (negative). Written only while the merchant has a tier program.

    `occurred_at` is the sale's time on every row of the sale, so a return never lowers a later
    window (the ledger's reversals count the same way). `source` names the sale (`sale:42`); `cause`
    what wrote the row (the sale, `refund:7`, `void:42`).
    """

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    amount = models.BigIntegerField(_("amount"))
    occurred_at = models.DateTimeField(_("sale made at"))
    source = models.CharField(_("sale"), max_length=40)
    cause = models.CharField(_("written by"), max_length=40)

    class Meta:
        verbose_name = _("ranking spend without points")
        verbose_name_plural = _("ranking spend without points")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ranking_spend_amount_not_zero"),
            models.UniqueConstraint(fields=["merchant", "cause"], name="ranking_spend_once_per_cause"),
        ]
        indexes = [
            models.Index(fields=["member", "occurred_at"]),
            models.Index(fields=["merchant", "source"]),
            # The continuous review looks for rows written since its last run (a return is dated back).
            models.Index(fields=["merchant", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.amount}"


class DowngradeNotice(TenantOwned):
    """A forecast recorded `downgrade_notice_days` before a review: at `review_at`, the ranking as it
    stands would lower the member from `tier` to `to_tier`. The marketing app messages each once."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_at = models.DateTimeField(_("drops at"))
    ranking = models.BigIntegerField(_("ranking at the time"))

    class Meta:
        verbose_name = _("downgrade notice")
        verbose_name_plural = _("downgrade notices")
        constraints = [
            models.UniqueConstraint(fields=["member", "review_at"], name="downgrade_notice_once_per_review")
        ]
        indexes = [models.Index(fields=["merchant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.review_at:%Y-%m-%d}: {self.ranking}"
