"""Cards: types, batches, the cards themselves and their append-only event log (D1–D6, J4).

A card moves through these statuses (every move is a service in `services.py` and writes a CardEvent):

    generated ─ initialise_batch ─▶ initialised ─ assign_to_store ─▶ assigned ─ sell_card ─▶ sold
        │                                │                               │                    │
        └──────────── activate_card (D3, types that need no sale) ──────┘            confirm_sale
                                                                                              ▼
    lost ◀─ report_lost ─ active ◀──────────────────────────────────────────────────────────┘
     └── cancel_loss_report ─▶ active;   active/lost ─ replace_card ─▶ blocked (replaced_by)
    active/lost/blocked ─ recycle_card ─▶ recycled (archived row; the number starts again as a new row)

A recycled card row keeps its member, events and ledger history for the old owner; only rows with
`recycled_at` unset take part in the per-merchant uniqueness of the number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.formatting import local_datetime
from tessera.core.models import TenantOwned, TenantQuerySet, keep_history
from tessera.tenancy.models import StaffMembership

digits_prefix = RegexValidator(r"^[0-9]{0,8}$", _("A prefix is up to 8 digits."))


class CardKind(models.TextChoices):
    POINTS = "points", _("Points card")
    STORED_VALUE = "stored_value", _("Stored-value card")
    DISCOUNT = "discount", _("Discount card")
    SPECIAL = "special", _("Special card")


class CardType(TenantOwned):
    """What a merchant's card is and gives (D1)."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=CardKind.choices, default=CardKind.POINTS)
    discount_percent = models.DecimalField(
        _("discount (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=_("Required for discount cards."),
    )
    benefits = models.TextField(_("benefits"), blank=True)
    level = models.PositiveSmallIntegerField(
        _("level"), default=0, help_text=_("Higher levels are shown first and rank above lower ones.")
    )
    number_prefix = models.CharField(
        _("number prefix"),
        max_length=8,
        blank=True,
        validators=[digits_prefix],
        help_text=_("Digits printed before the sequence number of new cards of this type."),
    )
    requires_sale = models.BooleanField(
        _("sold with controlled issuance"),
        default=False,
        help_text=_(
            "Cards of this type are sold by a cashier and confirmed by a second person before use (D4). "
            "Otherwise an anonymous card is activated with the customer's phone (D3)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("card type")
        verbose_name_plural = _("card types")
        ordering = ["-level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="cardtype_name_unique_per_merchant"),
            models.CheckConstraint(
                condition=~Q(kind="discount") | Q(discount_percent__isnull=False),
                name="cardtype_discount_has_percent",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True)
                | Q(discount_percent__gte=0, discount_percent__lte=100),
                name="cardtype_discount_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == CardKind.DISCOUNT and self.discount_percent is None:
            raise ValidationError({"discount_percent": _("A discount card needs a discount percentage.")})


class CardBatch(TenantOwned):
    """Cards generated together, printed together and handed to finance (D3, D4, D6).

    A batch is never deleted: its numbers are drawn for good and may already be printed on plastic.
    `number` counts the merchant's batches (1, 2, 3 …); the primary key is shared by all merchants.
    """

    number = models.PositiveIntegerField(_("batch number"))
    type = models.ForeignKey(
        CardType, verbose_name=_("card type"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    prefix = models.CharField(_("number prefix"), max_length=8, blank=True, validators=[digits_prefix])
    first_number = models.CharField(_("first number"), max_length=32, blank=True)
    last_number = models.CharField(_("last number"), max_length=32, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    initialised_at = models.DateTimeField(_("initialised at"), null=True, blank=True)

    class Meta:
        verbose_name = _("card batch")
        verbose_name_plural = _("card batches")
        ordering = ["-created_at"]
        permissions = [("export_cardbatch", _("Can print/export card batches"))]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "number"], name="cardbatch_number_unique_per_merchant"
            )
        ]

    def __str__(self) -> str:
        return str(
            _("Batch #%(id)s (%(count)s × %(type)s)")
            % {"id": self.number, "count": self.quantity, "type": self.type}
        )


class CardNumberSequence(TenantOwned):
    """The last sequence number used for a prefix; rows are locked while numbers are drawn (D2)."""

    prefix = models.CharField(max_length=8, blank=True)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "prefix"], name="cardnumberseq_unique_per_merchant")
        ]

    def __str__(self) -> str:
        return f"{self.prefix or '-'}:{self.last_value}"


class CardStatus(models.TextChoices):
    GENERATED = "generated", _("Generated")
    INITIALISED = "initialised", _("Initialised")
    ASSIGNED = "assigned", _("Assigned to a store")
    SOLD = "sold", _("Sold, awaiting confirmation")
    ACTIVE = "active", _("Active")
    LOST = "lost", _("Reported lost")
    BLOCKED = "blocked", _("Blocked")
    RECYCLED = "recycled", _("Recycled")


#: Cards still in stock: not yet bound to anyone.
STOCK_STATUSES = (CardStatus.GENERATED, CardStatus.INITIALISED, CardStatus.ASSIGNED)


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    BANK_CARD = "bank_card", _("Bank card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    E_WALLET = "e_wallet", _("E-wallet")
    OTHER = "other", _("Other")


class CardQuerySet(TenantQuerySet["Card"]):
    def visible_to(self, staff: StaffMembership | None) -> TenantQuerySet[Card]:
        """B2 for cards: store-scoped staff see their stores' cards and the merchant-wide ones.

        A card with no store (stock not yet handed to a store, or a card activated through a
        merchant-wide integration) belongs to the whole merchant, so every member of its staff sees it.
        """
        if staff is None:
            return self.none()
        qs = self.filter(merchant_id=staff.merchant_id)
        if not staff.all_stores:
            qs = qs.filter(Q(store__in=staff.store_ids()) | Q(store__isnull=True))
        return qs


class CardManager(models.Manager["Card"]):
    def get_queryset(self) -> CardQuerySet:
        return CardQuerySet(self.model, using=self._db)

    def of(self, merchant: Any) -> TenantQuerySet[Card]:
        return self.get_queryset().of(merchant)

    def visible_to(self, staff: StaffMembership | None) -> TenantQuerySet[Card]:
        return self.get_queryset().visible_to(staff)


class Card(TenantOwned):
    """A physical or virtual card. A sub-card (`parent` set) shares its main card's member and account."""

    type = models.ForeignKey(
        CardType, verbose_name=_("card type"), on_delete=models.PROTECT, related_name="cards"
    )
    number = models.CharField(_("number"), max_length=32)
    status = models.CharField(
        _("status"), max_length=20, choices=CardStatus.choices, default=CardStatus.GENERATED
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
    )
    account = models.ForeignKey(
        "ledger.Account",
        verbose_name=_("stored-value account"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("main card"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sub_cards",
    )
    batch = models.ForeignKey(
        CardBatch,
        verbose_name=_("batch"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cards",
    )
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    replaced_by = models.ForeignKey(
        "self",
        verbose_name=_("replaced by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaces",
    )
    payment_method = models.CharField(
        _("payment method"), max_length=20, choices=PaymentMethod.choices, blank=True
    )
    invoice_number = models.CharField(_("invoice number"), max_length=60, blank=True)
    amount = models.BigIntegerField(
        _("amount paid"), null=True, blank=True, help_text=_("In the currency's minor unit.")
    )
    #: The user who made the last issuance step; the next step must be someone else (D4).
    step_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    sold_at = models.DateTimeField(_("sold at"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    lost_at = models.DateTimeField(_("reported lost at"), null=True, blank=True)
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    recycled_at = models.DateTimeField(_("recycled at"), null=True, blank=True)

    objects: CardManager = CardManager()  # type: ignore[assignment]
    history = keep_history(excluded_fields=["step_by"])

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("card")
        verbose_name_plural = _("cards")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "number"],
                condition=Q(recycled_at__isnull=True),
                name="card_number_unique_per_merchant",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0), name="card_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(recycled_at__isnull=True) | Q(status="recycled"), name="card_recycled_has_status"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"])]
        permissions = [
            ("export_card", _("Can print/export cards")),
            ("initialise_card", _("Can initialise card batches")),
            ("assign_card", _("Can assign cards to a store")),
            ("sell_card", _("Can sell cards")),
            ("confirm_card", _("Can confirm card sales")),
            ("activate_card", _("Can activate anonymous cards")),
            ("manage_card_lifecycle", _("Can report lost, replace, recycle cards and issue sub-cards")),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_usable(self) -> bool:
        return self.status == CardStatus.ACTIVE


class CardEventKind(models.TextChoices):
    GENERATED = "generated", _("Generated")
    INITIALISED = "initialised", _("Initialised")
    ASSIGNED = "assigned", _("Assigned to a store")
    SOLD = "sold", _("Sold")
    CONFIRMED = "confirmed", _("Sale confirmed")
    ACTIVATED = "activated", _("Activated")
    LOST = "lost", _("Reported lost")
    LOSS_CANCELLED = "loss_cancelled", _("Loss report cancelled")
    REPLACED = "replaced", _("Replaced")
    ISSUED_AS_REPLACEMENT = "issued_as_replacement", _("Issued as a replacement")
    RECYCLED = "recycled", _("Recycled")
    SUB_CARD_ISSUED = "sub_card_issued", _("Sub-card issued")


class CardEvent(TenantOwned):
    """One card operation, append-only: the trail behind the daily audit report of card operations (J4)."""

    card = models.ForeignKey(Card, verbose_name=_("card"), on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("kind"), max_length=30, choices=CardEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), db_index=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("card event")
        verbose_name_plural = _("card events")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["merchant", "at"]), models.Index(fields=["card", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {local_datetime(self.at):%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Card events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Card events are append-only.")
