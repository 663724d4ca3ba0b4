"""Point-of-sale transactions, their lines and refunds, and each merchant's sales settings (E1–E4, E9)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history
from tessera.tenancy import config
from tessera.tenancy.models import Merchant


class SalesSettings(TenantOwned):
    """How a merchant's sales are confirmed and refunded. Created with defaults on first use. (What they
    earn is the points policy's: `points.Policy`.)"""

    merchant = models.OneToOneField(
        Merchant, verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="sales_settings"
    )
    confirm_with_pin = models.BooleanField(_("confirm with the member's PIN"), default=True)
    confirm_with_otp = models.BooleanField(_("confirm with a one-time code by SMS"), default=True)
    confirm_with_staff = models.BooleanField(_("confirm by a second staff member"), default=True)
    verify_from_amount = models.BigIntegerField(
        _("verify from amount"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_(
            "Sales whose amount due is at least this (in minor units) must be confirmed by one of the "
            "methods above; smaller ones may be confirmed without. Empty: every sale."
        ),
    )
    verify_from_points = models.BigIntegerField(
        _("verify from points spent"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_(
            "Sales spending at least this many points must be confirmed by one of the methods above. "
            "Empty: only the amount decides (or every sale, when it is empty too)."
        ),
    )
    confirm_attempt_limit = models.PositiveSmallIntegerField(
        _("wrong PIN/code attempts allowed"),
        default=5,
        validators=[MinValueValidator(1)],
        help_text=_("After this many wrong tries the sale is locked, and so is the member for a while."),
    )
    confirm_lockout_minutes = models.PositiveSmallIntegerField(
        _("member lockout (minutes)"),
        default=30,
        help_text=_("Wrong tries of a member over this many minutes count towards the limit."),
    )
    cashiers_may_refund = models.BooleanField(
        _("cashiers may refund"),
        default=False,
        help_text=_(
            "Staff who ring up sales may also refund goods brought back. Roles with the refund "
            "permission may always refund."
        ),
    )

    history = keep_history()

    class Meta:
        verbose_name = _("sales settings")
        verbose_name_plural = _("sales settings")

    def __str__(self) -> str:
        return str(_("Sales settings of %(merchant)s") % {"merchant": self.merchant})

    @classmethod
    def for_merchant(cls, merchant: Merchant) -> SalesSettings:
        """The merchant's settings, created on first use with the defaults; from the configuration cache
        (`tenancy.config`) on the point-of-sale path."""
        return config.cached(merchant.pk, "sales.settings", lambda: cls._load(merchant))

    @classmethod
    def _load(cls, merchant: Merchant) -> SalesSettings:
        found = cls.objects.filter(merchant=merchant).first()
        return found or cls.objects.get_or_create(merchant=merchant)[0]


class StoreConfirmation(TenantOwned):
    """A store's own confirmation rules (issue 15 §7): when a store has them, they replace the
    merchant's (the sales settings' methods and thresholds) for the sales made there."""

    store = models.OneToOneField(
        "tenancy.Store", verbose_name=_("store"), on_delete=models.CASCADE, related_name="+"
    )
    confirm_with_pin = models.BooleanField(_("confirm with the member's PIN"), default=True)
    confirm_with_otp = models.BooleanField(_("confirm with a one-time code by SMS"), default=True)
    confirm_with_staff = models.BooleanField(_("confirm by a second staff member"), default=True)
    verify_from_amount = models.BigIntegerField(
        _("verify from amount"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("In minor units; empty: every sale (unless the points threshold is set)."),
    )
    verify_from_points = models.BigIntegerField(
        _("verify from points spent"), null=True, blank=True, validators=[MinValueValidator(0)]
    )

    history = keep_history()

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("store confirmation rules")
        verbose_name_plural = _("store confirmation rules")
        constraints = [
            models.CheckConstraint(
                condition=(Q(verify_from_amount__isnull=True) | Q(verify_from_amount__gte=0))
                & (Q(verify_from_points__isnull=True) | Q(verify_from_points__gte=0)),
                name="store_confirmation_thresholds",
            )
        ]

    def __str__(self) -> str:
        return str(_("Confirmation rules of %(store)s") % {"store": self.store})


class Channel(models.TextChoices):
    POS = "pos", _("Point of sale")
    BACK_OFFICE = "back_office", _("Back office")
    INTEGRATION = "integration", _("Online shop or other system")


class TransactionStatus(models.TextChoices):
    PENDING = "pending", _("Pending confirmation")
    CONFIRMED = "confirmed", _("Confirmed")
    VOIDED = "voided", _("Voided")


class ConfirmMethod(models.TextChoices):
    PIN = "pin", _("Member PIN")
    OTP = "otp", _("One-time code")
    STAFF = "staff", _("Second staff member")
    NONE = "none", _("No verification")
    #: The sale was paid in a connected shop (K1); the shop's signed webhook is the second step.
    EXTERNAL = "external", _("Paid in a connected system")

    @classmethod
    def verifying(cls) -> tuple[str, ...]:
        """The methods that verify who agrees to the sale."""
        return (cls.PIN.value, cls.OTP.value, cls.STAFF.value)


class Transaction(TenantOwned):
    """A sale: created pending (holding what it spends), changes balances only once confirmed (E2)."""

    store = models.ForeignKey(
        "tenancy.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey",
        verbose_name=_("API key"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, default=Channel.POS)
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="transactions"
    )
    card = models.ForeignKey(
        "cards.Card",
        verbose_name=_("card"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transactions",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TransactionStatus.choices, default=TransactionStatus.PENDING
    )
    currency = models.CharField(_("currency"), max_length=3)
    total_amount = models.BigIntegerField(_("total"), help_text=_("Sum of the lines, in minor units."))
    discount_amount = models.BigIntegerField(_("discount"), default=0)
    #: Null without a discount (and for sales made before): a nullable column is added to the table
    #: without rebuilding it, which SQLite could not do under the reports' triggers.
    discount_parts = models.JSONField(
        _("discounts given"),
        null=True,
        blank=True,
        help_text=_("Each part of the discount: the tier's or an occasion's, its amount and why."),
    )
    points_earned = models.BigIntegerField(_("points earned"), default=0)
    earn_explanation = models.CharField(_("how the points were computed"), max_length=300, blank=True)
    earning_parts = models.JSONField(
        _("earning rules used"),
        default=list,
        blank=True,
        help_text=_("Each part of the points: the rule version that gave it (E5), its points and why."),
    )
    points_to_spend = models.BigIntegerField(_("points spent"), default=0)
    stored_value_to_spend = models.BigIntegerField(_("stored value spent"), default=0)
    points_hold = models.ForeignKey(
        "ledger.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stored_value_hold = models.ForeignKey(
        "ledger.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    earn_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    points_spend_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stored_value_spend_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    external_ref = models.CharField(
        _("invoice number"), max_length=100, blank=True, help_text=_("The POS's own reference.")
    )
    note = models.TextField(_("note"), blank=True)
    occurred_at = models.DateTimeField(_("date"), db_index=True)
    confirm_method = models.CharField(
        _("confirmed with"), max_length=10, choices=ConfirmMethod.choices, blank=True
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    failed_confirmations = models.PositiveSmallIntegerField(_("wrong PIN/code attempts"), default=0)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    otp_hash = models.CharField(max_length=64, blank=True, editable=False)
    otp_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("voided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_reason = models.CharField(_("reason for voiding"), max_length=300, blank=True)

    history = keep_history(excluded_fields=["otp_hash", "otp_expires_at"])

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    total_amount__gte=0,
                    discount_amount__gte=0,
                    points_earned__gte=0,
                    points_to_spend__gte=0,
                    stored_value_to_spend__gte=0,
                ),
                name="sale_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(discount_amount__lte=F("total_amount")), name="sale_discount_within_total"
            ),
            # A POS that resends a sale under a new idempotency key still cannot record it twice.
            models.UniqueConstraint(
                fields=["merchant", "store", "external_ref"],
                condition=~Q(external_ref="") & ~Q(status="voided"),
                name="sale_invoice_unique_per_store",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status", "occurred_at"])]
        permissions = [
            ("confirm_transaction", _("Can confirm transactions")),
            ("void_transaction", _("Can void transactions")),
            ("refund_transaction", _("Can refund transactions")),
            ("add_points", _("Can add points")),
            ("deduct_points", _("Can deduct points")),
            ("transfer_points", _("Can move points between members")),
            ("export_transaction", _("Can print/export transactions")),
        ]

    def __str__(self) -> str:
        return str(_("Sale #%(id)s") % {"id": self.pk})

    @property
    def amount_due(self) -> int:
        return self.total_amount - self.discount_amount

    @property
    def source(self) -> str:
        """How ledger entries name this sale."""
        return f"sale:{self.pk}"


class TransactionLine(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    transaction = models.ForeignKey(
        Transaction, verbose_name=_("transaction"), on_delete=models.CASCADE, related_name="lines"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True, default="")
    #: key → value, at most `core.limits.MAX_LABELS` (issue 15 §4): what product rules match.
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    name = models.CharField(_("name"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.BigIntegerField(_("unit price"))
    amount = models.BigIntegerField(_("line amount"))
    #: The sale's earned points allocated to this line when the sale was made (issue 15 §4): what a
    #: refund of the line takes back. Null on sales made before lines kept their points.
    points = models.BigIntegerField(_("points earned"), null=True, blank=True)

    class Meta:
        verbose_name = _("line")
        verbose_name_plural = _("lines")
        ordering = ["transaction", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0, unit_price__gte=0, amount__gte=0), name="sale_line_positive"
            ),
            models.CheckConstraint(
                condition=Q(points__isnull=True) | Q(points__gte=0), name="sale_line_points_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"


class Refund(TenantOwned):
    """Goods brought back from a confirmed sale: earned points taken back, spent ones returned (E9)."""

    transaction = models.ForeignKey(
        Transaction, verbose_name=_("transaction"), on_delete=models.PROTECT, related_name="refunds"
    )
    store = models.ForeignKey(
        "tenancy.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.BigIntegerField(_("amount returned"))
    points_reversed = models.BigIntegerField(_("earned points taken back"), default=0)
    points_shortfall = models.BigIntegerField(
        _("earned points already spent"),
        default=0,
        help_text=_("Part of the points to take back that the member had already spent."),
    )
    points_returned = models.BigIntegerField(_("spent points given back"), default=0)
    stored_value_returned = models.BigIntegerField(_("stored value given back"), default=0)
    completes_return = models.BooleanField(_("completes the return"), default=False)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["transaction", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    amount__gte=0,
                    points_reversed__gte=0,
                    points_shortfall__gte=0,
                    points_returned__gte=0,
                    stored_value_returned__gte=0,
                ),
                name="refund_amounts_not_negative",
            )
        ]

    def __str__(self) -> str:
        return str(_("Refund #%(id)s") % {"id": self.pk})

    @property
    def source(self) -> str:
        return f"refund:{self.pk}"


class RefundLine(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(TransactionLine, on_delete=models.PROTECT, related_name="refund_lines")
    quantity = models.PositiveIntegerField(_("quantity"))
    amount = models.BigIntegerField(_("amount"))
    #: The line's earned points this refund takes back (issue 15 §4); null when the sale's lines kept
    #: no points (made before), whose refunds take back a share of the sale's points.
    points = models.BigIntegerField(_("earned points taken back"), null=True, blank=True)

    class Meta:
        verbose_name = _("refunded line")
        verbose_name_plural = _("refunded lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0, amount__gte=0), name="refund_line_positive"),
            models.CheckConstraint(
                condition=Q(points__isnull=True) | Q(points__gte=0), name="refund_line_points_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.line.name}"


class ConfirmationAttempt(models.Model):
    """One try at confirming a sale with a PIN or code; wrong tries lock the sale and the member."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="attempts")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10, choices=ConfirmMethod.choices)
    succeeded = models.BooleanField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["member", "created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {'ok' if self.succeeded else 'wrong'}"


class TopUp(TenantOwned):
    """Money paid in to load a stored-value card (E6), with the bonus it earned.

    Paid with cash, a bank card, a transfer…, never with stored value: a card cannot pay for its own
    value, and value moved between cards would earn top-up bonuses out of nothing."""

    card = models.ForeignKey(
        "cards.Card", verbose_name=_("card"), on_delete=models.PROTECT, related_name="top_ups"
    )
    account = models.ForeignKey(
        "ledger.Account", verbose_name=_("stored-value account"), on_delete=models.PROTECT, related_name="+"
    )
    store = models.ForeignKey(
        "tenancy.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.BigIntegerField(_("amount paid"), help_text=_("In the currency's minor unit."))
    currency = models.CharField(_("currency"), max_length=3)
    payment_method = models.CharField(_("payment method"), max_length=20)
    invoice_number = models.CharField(_("invoice number"), max_length=100, blank=True)
    bonus_rule = models.ForeignKey(
        "rewards.TopUpBonusRule",
        verbose_name=_("bonus rule"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    bonus_points = models.BigIntegerField(_("bonus points"), default=0)
    bonus_value = models.BigIntegerField(_("bonus value"), default=0)
    #: Set in the same database transaction, once the ledger entry exists (it is named after the top-up).
    entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    bonus_value_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    bonus_points_entry = models.ForeignKey(
        "ledger.Entry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("top-up")
        verbose_name_plural = _("top-ups")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0, bonus_points__gte=0, bonus_value__gte=0), name="topup_amounts_valid"
            ),
            # A POS that resends a top-up under a new idempotency key still cannot load the card twice.
            models.UniqueConstraint(
                fields=["merchant", "store", "invoice_number"],
                condition=~Q(invoice_number=""),
                name="topup_invoice_unique_per_store",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Top-up #%(id)s") % {"id": self.pk})

    @property
    def source(self) -> str:
        """How ledger entries name this top-up."""
        return f"topup:{self.pk}"
