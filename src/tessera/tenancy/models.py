"""Merchants (tenants), their stores, staff scope, roles and API keys (A1, A2, B1, B2)."""

from __future__ import annotations

import secrets
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tessera.core.models import Audited, TenantOwned, keep_history
from tessera.core.money import CURRENCY_CHOICES

TIME_ZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones())
colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a colour as #RRGGBB."))


def new_config_version() -> int:
    """A fresh, random configuration version (`tenancy.config`): never a counter, so that a cache key
    cannot name the data of another database, another test or a rolled-back change."""
    return secrets.randbits(62)


class Merchant(Audited):
    """A business running its loyalty program on this installation, isolated from every other."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True, help_text=_("Used in the portal address."))
    country = models.CharField(
        _("country"),
        max_length=2,
        default="VN",
        help_text=_("Two-letter code; local phone numbers are read as this country's."),
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, default="VND")
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="Asia/Ho_Chi_Minh"
    )
    default_language = models.CharField(
        _("default language"), max_length=10, choices=settings.LANGUAGES, default="vi"
    )
    logo = models.ImageField(_("logo"), upload_to="merchants/logos/", blank=True)
    primary_color = models.CharField(
        _("primary colour"), max_length=7, default="#0f766e", validators=[colour]
    )
    accent_color = models.CharField(_("accent colour"), max_length=7, default="#f59e0b", validators=[colour])
    auto_activate_members = models.BooleanField(
        _("activate new members automatically"),
        default=True,
        help_text=_("When off, new members stay 'not activated' until staff activate them (C2)."),
    )
    require_two_factor_for_admins = models.BooleanField(
        _("require two-factor login for admins"),
        default=False,
        help_text=_(
            "Staff who can change settings, roles or balances must log in with a code from an "
            "authenticator app (B4)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    #: Changes with every change of the configuration the point-of-sale path caches (`tenancy.config`).
    config_version = models.BigIntegerField(default=new_config_version, editable=False)

    history = keep_history(excluded_fields=["config_version"])

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Store(TenantOwned):
    """A branch. A card issued in one store works in all stores of its merchant (A2)."""

    merchant = models.ForeignKey(
        Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="stores"
    )
    code = models.SlugField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        choices=TIME_ZONE_CHOICES,
        blank=True,
        help_text=_("Leave empty to use the merchant's time zone."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = keep_history()
    STORE_FIELD = "pk"

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["merchant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="store_code_unique_per_merchant")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or self.merchant.time_zone)


class StaffMembership(Audited):
    """A back-office user's place: one merchant, and either all its stores or some (B2)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="staff"
    )
    merchant = models.ForeignKey(
        Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="staff"
    )
    all_stores = models.BooleanField(_("all stores"), default=False)
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, related_name="staff")

    history = keep_history(m2m_fields=[stores])

    class Meta:
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant}"

    def store_ids(self) -> list[int]:
        cached: list[int] | None = getattr(self, "_store_ids", None)
        if cached is None:
            cached = list(self.stores.values_list("pk", flat=True))
            self._store_ids = cached
        return cached

    def can_act_in(self, store: Store | None) -> bool:
        if store is None:
            return self.all_stores
        return store.merchant_id == self.merchant_id and (self.all_stores or store.pk in self.store_ids())


class Role(TenantOwned):
    """A merchant's own group of permissions (B1). Backed by a Django group so permissions stay Django's."""

    merchant = models.ForeignKey(
        Merchant, verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="roles"
    )
    group = models.OneToOneField(
        Group, verbose_name=_("group"), on_delete=models.CASCADE, related_name="role"
    )
    name = models.CharField(_("name"), max_length=150)
    key = models.SlugField(
        _("default role"),
        max_length=40,
        blank=True,
        help_text=_("Set for the roles every merchant starts with."),
    )
    #: A default role's permissions as the release last granted them ("app.codename", sorted): what a
    #: later release adds is granted, what it drops is taken back, and what the merchant changed stays.
    granted_by_default = models.JSONField(_("permissions granted by default"), default=list, blank=True)

    history = keep_history()

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["merchant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="role_name_unique_per_merchant")
        ]

    def __str__(self) -> str:
        return self.name


class Scope(models.TextChoices):
    """What an API key may do. Each router of the API names the scopes it accepts; the `:read` variant
    of an accepted scope is enough for its GET endpoints. Keys made before scopes existed became `pos`
    when bound to a store and `integration` when merchant-wide (migration 0003)."""

    POS = "pos", _("Point of sale: a till of one store")
    POS_READ = "pos:read", _("Point of sale, read only")
    INTEGRATION = "integration", _("Integration: a merchant-wide system")
    INTEGRATION_READ = "integration:read", _("Integration, read only")
    ADMIN = "admin", _("Administration: the merchant's management API")
    ADMIN_READ = "admin:read", _("Administration, read only")

    @property
    def is_read_only(self) -> bool:
        return self.value.endswith(":read")

    @property
    def full(self) -> Scope:
        """The scope a read-only variant reads for (`pos:read` → `pos`)."""
        return Scope(self.value.removesuffix(":read"))


#: Administration acts for the whole merchant: an admin key is never bound to a store (B2: a
#: store-scoped user, who may only issue store-bound keys, cannot issue one).
MERCHANT_WIDE_SCOPES = (Scope.ADMIN, Scope.ADMIN_READ)


class ApiKey(TenantOwned):
    """A POS terminal's or integration's credential. Only a hash is stored; the key is shown once."""

    merchant = models.ForeignKey(
        Merchant, verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="api_keys"
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text=_("Leave empty for a merchant-wide integration key."),
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("For example: POS counter 1."))
    scope = models.CharField(
        _("scope"),
        max_length=20,
        choices=Scope.choices,
        help_text=_("What the key may do. A read-only scope may only read (GET requests)."),
    )
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    STORE_FIELD = "store"

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["merchant", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=Scope.values)
                & ~models.Q(scope__in=MERCHANT_WIDE_SCOPES, store__isnull=False),
                name="api_key_scope_known_and_admin_merchant_wide",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


#: An operator key's rights, named like a scope in problems and in the OpenAPI document.
OPERATOR_SCOPE = "operator"


class OperatorKey(Audited):
    """The platform's own credential (issue 17): creates merchants, their stores and their first keys,
    for hosting companies that onboard merchants by script. It belongs to no merchant, so it is a model of
    its own rather than an `ApiKey` without one: every merchant-owned table keeps its merchant, and no
    query for a merchant's keys can find it. Made by `tessera create_operator_key`; shown once."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("operator key")
        verbose_name_plural = _("operator keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def merchant_of(obj: Any) -> int | None:
    """The merchant id a row belongs to, for the boundary checks in admin and API."""
    if isinstance(obj, Merchant):
        return obj.pk
    return getattr(obj, "merchant_id", None)
