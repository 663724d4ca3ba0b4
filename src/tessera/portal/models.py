"""The member portal's own data: member passwords, one-time login codes, failed tries, widget settings
(G1, G2). Members are not Django users: a portal session holds a member id under a merchant's key."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.core.formatting import local_datetime
from tessera.core.models import TenantOwned


class MemberCredential(TenantOwned):
    """A member's optional portal password, set from the portal after a one-time-code login."""

    member = models.OneToOneField(
        "members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="portal_credential"
    )
    #: A Django password hash; never the password.
    password_hash = models.CharField(_("password"), max_length=128, editable=False)

    class Meta:
        verbose_name = _("member password")
        verbose_name_plural = _("member passwords")

    def __str__(self) -> str:
        return str(self.member)


class LoginCode(models.Model):
    """A one-time login code sent by SMS. Only a keyed hash is kept; it lives five minutes."""

    merchant = models.ForeignKey("tenancy.Merchant", on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(_("phone"), max_length=20)
    code_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("wrong tries"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("login code")
        verbose_name_plural = _("login codes")
        indexes = [models.Index(fields=["merchant", "phone", "created_at"])]

    def __str__(self) -> str:
        return f"{self.phone} @ {local_datetime(self.created_at):%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """One wrong code or password for a phone; enough of them in a window lock the phone out."""

    merchant = models.ForeignKey("tenancy.Merchant", on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(_("phone"), max_length=20)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("failed portal login")
        verbose_name_plural = _("failed portal logins")
        indexes = [models.Index(fields=["merchant", "phone", "created_at"])]

    def __str__(self) -> str:
        return f"{self.phone} @ {local_datetime(self.created_at):%Y-%m-%d %H:%M}"


class WidgetSettings(TenantOwned):
    """The website widget of one merchant (G2): the secret its shop signs shoppers' tokens with, and the
    shop origins allowed to call the widget API from a browser."""

    merchant = models.OneToOneField(
        "tenancy.Merchant",
        verbose_name=_("merchant"),
        on_delete=models.CASCADE,
        related_name="widget_settings",
    )
    is_enabled = models.BooleanField(_("enabled"), default=True)
    #: Kept as is: checking an HMAC needs the secret itself. Shown once when created or rotated.
    secret = models.CharField(max_length=64, editable=False)
    secret_rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True, editable=False)
    allowed_origins = models.TextField(
        _("allowed origins"),
        blank=True,
        help_text=_("One per line, for example https://shop.example.com (scheme, host and port, no path)."),
    )

    class Meta:
        verbose_name = _("website widget")
        verbose_name_plural = _("website widgets")

    def __str__(self) -> str:
        return str(_("Widget of %(merchant)s") % {"merchant": self.merchant})

    def origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()]


class PortalSettings(TenantOwned):
    """What members may do for themselves in the portal. Created with defaults on first change."""

    merchant = models.OneToOneField(
        "tenancy.Merchant",
        verbose_name=_("merchant"),
        on_delete=models.CASCADE,
        related_name="portal_settings",
    )
    members_may_transfer = models.BooleanField(
        _("members may send points to other members"),
        default=False,
        help_text=_("A member sends spendable points to another member of yours, found by phone number."),
    )
    transfer_max_points = models.PositiveIntegerField(
        _("most points per transfer"), default=0, help_text=_("0 means no limit.")
    )
    transfers_per_day = models.PositiveSmallIntegerField(
        _("transfers per member per day"),
        default=3,
        validators=[MinValueValidator(1)],
        help_text=_("Counted per day in the merchant's time zone."),
    )

    class Meta:
        verbose_name = _("portal settings")
        verbose_name_plural = _("portal settings")

    def __str__(self) -> str:
        return str(_("Portal of %(merchant)s") % {"merchant": self.merchant})


class CodeSendFailure(TenantOwned):
    """A login code the merchant's SMS provider did not take. Shown to the merchant in the back office
    and logged; the member who asked is told nothing different (issue 12)."""

    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.CASCADE, related_name="+"
    )
    phone = models.CharField(_("phone"), max_length=20)
    error = models.CharField(_("error"), max_length=300)

    class Meta:
        verbose_name = _("login code not sent")
        verbose_name_plural = _("login codes not sent")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.phone} @ {local_datetime(self.created_at):%Y-%m-%d %H:%M}"
