"""Messaging (I1–I4): channel settings, templates, campaigns, automatic notices, holidays, messages.

A `Message` is one text to one recipient and the trace I4 asks for: who, what exactly, through which
channel, why (its campaign, or the trigger and its reference) and what became of it. Messages are facts:
only their status (and the provider's id and error that come with it) ever changes. Unique constraints
make "once" a database fact: a member appears once in a campaign, and an automatic notice is sent once
per member, channel and occasion (a sale, an expiry notice, a birthday in a year, ...).
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tessera.core.models import TenantOwned, keep_history


class ChannelKind(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")


class SmsProvider(models.TextChoices):
    DEFAULT = "default", _("The installation's SMS backend")
    HTTP = "http", _("HTTP provider (JSON over HTTPS)")


class ChannelSettings(TenantOwned):
    """How a merchant's messages leave: the SMS provider and sender name, the email sender, the rates,
    and the address and secret of the provider's signed delivery receipts."""

    sms_provider = models.CharField(
        _("SMS provider"), max_length=20, choices=SmsProvider.choices, default=SmsProvider.DEFAULT
    )
    sms_api_url = models.URLField(_("provider API address"), max_length=500, blank=True)
    # Stored as is (a provider needs it in clear to authenticate us) and never shown again once saved.
    sms_api_key = models.CharField(max_length=300, blank=True, editable=False)
    sms_sender = models.CharField(
        _("SMS sender name"),
        max_length=11,
        blank=True,
        help_text=_("The brand name registered with the provider."),
    )
    sms_rate_per_minute = models.PositiveIntegerField(
        _("SMS per minute"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text=_("The most the provider allows; campaigns and notices together never exceed it."),
    )
    sms_part_price = models.PositiveIntegerField(
        _("price of one SMS part"),
        null=True,
        blank=True,
        help_text=_(
            "What the provider charges for one SMS part, in the currency's minor unit (VND: đồng). "
            "Used for a campaign's cost estimate; empty: no estimate."
        ),
    )
    email_from = models.EmailField(
        _("email sender address"), blank=True, help_text=_("Empty: the installation's sender address.")
    )
    email_from_name = models.CharField(_("email sender name"), max_length=100, blank=True)
    email_rate_per_minute = models.PositiveIntegerField(
        _("emails per minute"), default=300, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    greeting_hour = models.PositiveSmallIntegerField(
        _("greetings sent from"),
        default=9,
        validators=[MaxValueValidator(23)],
        help_text=_("Local hour from which birthday, anniversary and holiday greetings are sent."),
    )
    receipt_token = models.UUIDField(
        _("receipt address token"), default=uuid.uuid4, unique=True, editable=False
    )
    receipt_secret = models.CharField(max_length=100, editable=False)
    rejected_receipts = models.PositiveIntegerField(
        _("rejected receipts"), default=0, editable=False, help_text=_("Forged or stale receipts refused.")
    )

    history = keep_history(excluded_fields=["sms_api_key", "receipt_secret"])

    class Meta:
        verbose_name = _("channel settings")
        verbose_name_plural = _("channel settings")
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="channel_settings_one_per_merchant"),
            models.CheckConstraint(
                condition=Q(sms_rate_per_minute__gte=1, email_rate_per_minute__gte=1),
                name="channel_settings_rates_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Channel settings"))

    def rate_per_minute(self, channel: str) -> int:
        return self.sms_rate_per_minute if channel == ChannelKind.SMS else self.email_rate_per_minute


class MessageTemplate(TenantOwned):
    """A message in each of the merchant's languages, with `{{ variables }}`."""

    name = models.CharField(_("name"), max_length=150)
    channel = models.CharField(_("channel"), max_length=10, choices=ChannelKind.choices)
    subject_vi = models.CharField(_("subject (Vietnamese)"), max_length=200, blank=True)
    subject_zh_hans = models.CharField(_("subject (Chinese)"), max_length=200, blank=True)
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    body_vi = models.TextField(_("text (Vietnamese)"), blank=True)
    body_zh_hans = models.TextField(_("text (Chinese)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    strip_diacritics = models.BooleanField(
        _("send SMS without diacritics"),
        default=False,
        help_text=_("“Chúc mừng” is sent as “Chuc mung”: 160 characters per SMS part instead of 70."),
    )

    history = keep_history()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="message_template_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class AudienceKind(models.TextChoices):
    SEGMENT = "segment", _("A saved segment")
    LIST = "list", _("An uploaded list of phones")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class Campaign(TenantOwned):
    """A marketing send to a segment or an uploaded list, now or at `scheduled_at`, at most
    `throttle_per_minute` a minute. Only members who accepted marketing on the channel get it (I4)."""

    name = models.CharField(_("name"), max_length=150)
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="campaigns"
    )
    audience = models.CharField(_("audience"), max_length=10, choices=AudienceKind.choices)
    segment = models.ForeignKey(
        "members.Segment",
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    phones = models.JSONField(_("phones"), default=list, blank=True, editable=False)
    list_name = models.CharField(_("uploaded list"), max_length=200, blank=True, editable=False)
    code = models.CharField(
        _("code"), max_length=60, blank=True, help_text=_("The value of {{ code }} (a promo code, say).")
    )
    scheduled_at = models.DateTimeField(
        _("send at"), null=True, blank=True, help_text=_("Empty: when launched.")
    )
    throttle_per_minute = models.PositiveIntegerField(
        _("at most per minute"),
        default=0,
        help_text=_("0: as fast as the channel allows. Never above the channel's rate."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    audience_size = models.PositiveIntegerField(_("recipients"), null=True, blank=True, editable=False)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True, editable=False)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)

    history = keep_history(excluded_fields=["phones"])

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(audience="segment") | Q(segment__isnull=False), name="campaign_segment_set"
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_at"])]
        permissions = [("send_campaign", _("Can launch, cancel and retry campaigns"))]

    def __str__(self) -> str:
        return self.name


class NoticeKind(models.TextChoices):
    AFTER_SALE = "after_sale", _("After a purchase")
    AFTER_REFUND = "after_refund", _("After a refund or void")
    POINTS_EXPIRING = "points_expiring", _("Points about to expire")
    TIER_CHANGED = "tier_changed", _("Tier changed")
    TIER_DROPPING = "tier_dropping", _("Tier about to drop")
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Anniversary")


#: Notices about the member's own account: sent when the merchant switches them on, whatever the
#: marketing consent. Greetings are marketing and need the channel's consent (I4).
SERVICE_NOTICES = frozenset(
    {
        NoticeKind.AFTER_SALE,
        NoticeKind.AFTER_REFUND,
        NoticeKind.POINTS_EXPIRING,
        NoticeKind.TIER_CHANGED,
        NoticeKind.TIER_DROPPING,
    }
)


class NoticeRule(TenantOwned):
    """An automatic notice the merchant switched on: on this occasion, send this template."""

    kind = models.CharField(_("occasion"), max_length=20, choices=NoticeKind.choices)
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="notice_rules"
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("automatic notice")
        verbose_name_plural = _("automatic notices")
        ordering = ["kind"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "kind", "template"], name="notice_rule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.template}"


class CalendarKind(models.TextChoices):
    SOLAR = "solar", _("Solar (Gregorian)")
    LUNAR = "lunar", _("Lunar")


class Holiday(TenantOwned):
    """A date the merchant greets members on: a solar month/day, or a lunar month/day (Tết: lunar 1/1,
    Mid-Autumn: lunar 8/15) in the calendar of the merchant's time zone."""

    name = models.CharField(_("name"), max_length=100)
    calendar = models.CharField(_("calendar"), max_length=10, choices=CalendarKind.choices)
    month = models.PositiveSmallIntegerField(
        _("month"), validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    day = models.PositiveSmallIntegerField(_("day"), validators=[MinValueValidator(1), MaxValueValidator(31)])
    leap_month = models.BooleanField(
        _("leap month"),
        default=False,
        help_text=_("Lunar only: the leap (intercalary) month of that number."),
    )
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("greeting"), on_delete=models.PROTECT, related_name="holidays"
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["calendar", "month", "day"]
        constraints = [
            models.CheckConstraint(
                condition=Q(month__gte=1, month__lte=12, day__gte=1, day__lte=31), name="holiday_month_day"
            ),
            models.CheckConstraint(
                condition=Q(calendar="solar", leap_month=False) | Q(calendar="lunar", day__lte=30),
                name="holiday_lunar_fields",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    SKIPPED_NO_CONSENT = "skipped_no_consent", _("Skipped: no consent")
    SKIPPED_NO_ADDRESS = "skipped_no_address", _("Skipped: no phone or email")
    CANCELLED = "cancelled", _("Cancelled")


class Trigger(models.TextChoices):
    CAMPAIGN = "campaign", _("Campaign")
    AFTER_SALE = "after_sale", _("After a purchase")
    AFTER_REFUND = "after_refund", _("After a refund or void")
    POINTS_EXPIRING = "points_expiring", _("Points about to expire")
    TIER_CHANGED = "tier_changed", _("Tier changed")
    TIER_DROPPING = "tier_dropping", _("Tier about to drop")
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Anniversary")
    HOLIDAY = "holiday", _("Holiday")
    API = "api", _("Sent through the API")


class Message(TenantOwned):
    """One message to one recipient, and what became of it."""

    # No single-column indexes on member and campaign: the composite ones below serve those lookups,
    # and every index costs time when a campaign writes 100,000 rows.
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ChannelKind.choices)
    to = models.CharField(_("to"), max_length=254, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"), blank=True)
    parts = models.PositiveSmallIntegerField(_("SMS parts"), default=0)
    is_marketing = models.BooleanField(_("marketing"), default=False)
    status = models.CharField(_("status"), max_length=20, choices=MessageStatus.choices)
    error = models.CharField(_("error"), max_length=300, blank=True)
    provider_message_id = models.CharField(_("provider's message id"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    trigger_ref = models.CharField(_("trigger reference"), max_length=100, blank=True)
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member"],
                condition=Q(campaign__isnull=False, member__isnull=False),
                name="message_once_per_campaign_member",
            ),
            models.UniqueConstraint(
                fields=["campaign", "to"],
                condition=Q(campaign__isnull=False, member__isnull=True),
                name="message_once_per_campaign_unknown_phone",
            ),
            models.UniqueConstraint(
                fields=["merchant", "member", "channel", "trigger", "trigger_ref"],
                condition=Q(campaign__isnull=True, member__isnull=False) & ~Q(trigger_ref=""),
                name="message_once_per_occasion",
            ),
            models.CheckConstraint(
                condition=Q(trigger="campaign", campaign__isnull=False)
                | (~Q(trigger="campaign") & Q(campaign__isnull=True)),
                name="message_campaign_matches_trigger",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "merchant", "channel", "id"], name="message_drain"),
            models.Index(fields=["campaign", "status"], name="message_campaign_status"),
            models.Index(fields=["merchant", "provider_message_id"], name="message_provider_id"),
            models.Index(fields=["merchant", "channel", "claimed_at"], name="message_rate_window"),
            models.Index(fields=["member", "created_at"], name="message_member"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} #{self.pk}"
