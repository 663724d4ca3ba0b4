"""Integrations (K1, K2): shop connections and their inbound deliveries; outbound webhook endpoints.

Secrets are stored as they are, not hashed: an HMAC can only be computed, and so verified, with the
secret itself. They are never shown again after the page that creates them (the admin does not even
load the column), and a merchant who thinks one leaked replaces the connection or endpoint.

Connections and endpoints keep a change history (who changed what, in the back office or by which API
key; issue 17) without their secrets: a rotation is a row of its own, never the secret it set.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    HARAVAN = "haravan", "Haravan"
    SAPO = "sapo", "Sapo"
    GENERIC = "generic", _("Other system (Tessera format)")


class Connection(TenantOwned):
    """A merchant's shop that posts signed webhooks to /hooks/<token>/; its sales are booked in `store`."""

    token = models.UUIDField(_("address token"), default=uuid.uuid4, unique=True, editable=False)
    platform = models.CharField(_("platform"), max_length=20, choices=Platform.choices)
    name = models.CharField(_("name"), max_length=100, help_text=_("For example: Shopify online shop."))
    store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The store the shop's orders are booked in."),
    )
    secret = models.CharField(max_length=200, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    rejected_count = models.PositiveIntegerField(
        _("rejected requests"), default=0, editable=False, help_text=_("Forged or stale requests refused.")
    )
    last_rejected_at = models.DateTimeField(_("last rejected"), null=True, blank=True, editable=False)

    # The refusal counters are the shop's traffic, counted by an UPDATE, not anyone's change.
    history = keep_history(excluded_fields=["secret", "rejected_count", "last_rejected_at"])

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("shop connection")
        verbose_name_plural = _("shop connections")
        ordering = ["merchant", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        """The namespace of this shop's order and customer ids."""
        return f"connection:{self.pk}"


class Outcome(models.TextChoices):
    PROCESSED = "processed", _("Processed")
    DUPLICATE = "duplicate", _("Duplicate (already done)")
    SKIPPED = "skipped", _("Skipped")
    DEFERRED = "deferred", _("Waiting for the order")
    FAILED = "failed", _("Failed")


class InboundDelivery(TenantOwned):
    """One accepted (correctly signed, fresh) webhook request and what came of it."""

    connection = models.ForeignKey(
        Connection, verbose_name=_("connection"), on_delete=models.CASCADE, related_name="deliveries"
    )
    topic = models.CharField(_("topic"), max_length=60)
    webhook_id = models.CharField(_("webhook id"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(
        _("shop object id"), max_length=100, blank=True, help_text=_("Customer, order or refund id.")
    )
    order_ref = models.CharField(_("shop order id"), max_length=100, blank=True)
    received_at = models.DateTimeField(_("received at"), db_index=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.TextField(_("body"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    transaction = models.ForeignKey(
        "sales.Transaction",
        verbose_name=_("transaction"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    refund = models.ForeignKey(
        "sales.Refund",
        verbose_name=_("refund"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    STORE_FIELD = "connection__store"

    class Meta:
        verbose_name = _("inbound delivery")
        verbose_name_plural = _("inbound deliveries")
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["connection", "order_ref", "outcome"])]
        permissions = [("replay_inbounddelivery", _("Can replay inbound deliveries"))]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk}"


class ExternalCustomer(TenantOwned):
    """A shop's customer id → the member it became; follows the member through phone changes (C3)."""

    source = models.CharField(max_length=60)
    external_id = models.CharField(_("shop customer id"), max_length=100)
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    remote_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "source", "external_id"], name="external_customer_unique_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id}"


class ExternalOrder(TenantOwned):
    """A shop's order id → the sale it became (exactly once), its line ids → the sale's lines, and the
    refunds and cancellation that arrived before it (applied when it arrives)."""

    source = models.CharField(max_length=60)
    external_id = models.CharField(_("shop order id"), max_length=100)
    transaction = models.OneToOneField(
        "sales.Transaction", on_delete=models.PROTECT, null=True, blank=True, related_name="external_order"
    )
    lines = models.JSONField(default=dict, help_text="shop line id → sale line id")
    applied_refunds = models.JSONField(default=list)
    waiting = models.JSONField(default=list, help_text="refunds and cancellation received before the order")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "source", "external_id"], name="external_order_unique_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source}/{self.external_id}"


# --- outbound (K2) ------------------------------------------------------------------------------------

#: The events services publish (`core.events`), offered when choosing what an endpoint receives.
EVENT_TYPES = (
    ("sale.confirmed", _("Sale confirmed")),
    ("sale.voided", _("Sale voided")),
    ("sale.refunded", _("Sale refunded")),
    ("points.added", _("Points added")),
    ("points.deducted", _("Points deducted")),
    ("points.transferred", _("Points moved between members")),
    ("member.created", _("Member created")),
    ("member.updated", _("Member updated")),
    ("member.tier_changed", _("Member's tier changed")),
    ("members.imported", _("Members imported")),
    ("card.activated", _("Card activated")),
    ("stored_value.topped_up", _("Card topped up")),
    ("gift.requested", _("Gift requested")),
    ("gift.cancelled", _("Gift request cancelled")),
    ("promo_code.issued", _("Promo code issued")),
    ("promo_code.consumed", _("Promo code used")),
)


class WebhookEndpoint(TenantOwned):
    """A URL of the merchant's that receives signed events."""

    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(
        _("event types"), default=list, blank=True, help_text=_("Empty: every event.")
    )
    secret = models.CharField(max_length=100, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history(excluded_fields=["secret"])

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["merchant", "url"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(TenantOwned):
    """One event for one endpoint, tried until delivered or out of attempts."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    event_type = models.CharField(_("event type"), max_length=60)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=["pending", "retrying"]) | Q(next_attempt_at__isnull=False),
                name="webhook_delivery_due_when_open",
            )
        ]
        permissions = [("resend_webhookdelivery", _("Can resend webhook deliveries"))]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint}"
