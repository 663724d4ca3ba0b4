"""Members: the merchant's customers, identified by phone (C1–C3, C5, C6)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber, to_python

from tessera.core.models import TenantOwned, keep_history


class StoredPhone(PhoneNumber):
    """A number as read from the database: what it prints and whether it is valid are worked out once
    per process for each stored string, not on every read (phonenumbers takes ~0.1 ms to parse,
    validate and format one, a tenth of a till's lookup; issue 13). Nothing changes a number in
    place: a new number is a new object."""

    def __str__(self) -> str:
        printed = _PRINTED.get(self.raw_input)
        if printed is None:
            printed = _remember(_PRINTED, self.raw_input, super().__str__())
        return printed

    def is_valid(self) -> bool:
        valid = _VALID.get(self.raw_input)
        if valid is None:
            valid = _remember(_VALID, self.raw_input, super().is_valid())
        return valid


_PRINTED: dict[str, str] = {}
_VALID: dict[str, bool] = {}


def _remember(known: dict[str, Any], raw: str, value: Any) -> Any:
    if len(known) >= 8192:
        known.clear()
    known[raw] = value
    return value


@lru_cache(maxsize=8192)
def _parsed(stored: str) -> PhoneNumber:
    return to_python(stored)


class StoredPhoneField(PhoneNumberField):
    """phonenumber_field's field, reading each distinct stored number once per process (see
    StoredPhone); a read gets its own copy. Migrations see the library's field, unchanged."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        number = StoredPhone()
        number.merge_from(_parsed(value))
        number.raw_input = value
        return number

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "phonenumber_field.modelfields.PhoneNumberField", args, kwargs


class MemberStatus(models.TextChoices):
    NOT_ACTIVATED = "not_activated", _("Not activated")
    ACTIVE = "active", _("Active")
    EXCLUDED = "excluded", _("Excluded")


class Gender(models.TextChoices):
    UNSPECIFIED = "", _("Not specified")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class Tag(TenantOwned):
    name = models.CharField(_("name"), max_length=60)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="tag_name_unique_per_merchant")
        ]

    def __str__(self) -> str:
        return self.name


class Member(TenantOwned):
    """A customer of one merchant. The phone is the loyalty identity: a new phone is a new account (C3)."""

    phone = StoredPhoneField(_("phone"), null=True, blank=True, help_text=_("Empty only once erased."))
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True, help_text=_("Province or city."))
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True, default="")
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    id_number = models.CharField(_("ID-card number"), max_length=30, blank=True)
    hobbies = models.TextField(_("hobbies"), blank=True)
    preferences = models.TextField(
        _("preferences and special needs"),
        blank=True,
        help_text=_("Shown to staff at the member's next visit."),
    )
    notes = models.TextField(_("notes"), blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="members")
    home_store = models.ForeignKey(
        "tenancy.Store",
        verbose_name=_("home store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    marketing_sms = models.BooleanField(_("accepts marketing SMS"), default=False)
    marketing_email = models.BooleanField(_("accepts marketing email"), default=False)

    status = models.CharField(
        _("status"), max_length=20, choices=MemberStatus.choices, default=MemberStatus.NOT_ACTIVATED
    )
    status_reason = models.CharField(_("reason for the status"), max_length=300, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self",
        verbose_name=_("replaced by account"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supersedes",
        help_text=_("Set when the phone changed: the new phone has this new account."),
        db_index=False,  # a partial index below: few members have one
    )
    erased_at = models.DateTimeField(_("personal data erased at"), null=True, blank=True)
    #: The code this member gives friends (issue 15 §5): given on first need (`referral_code_of`).
    referral_code = models.CharField(
        _("referral code"), max_length=12, blank=True, default="", editable=False
    )
    #: Who brought this member in: set once, at registration, never changed (referred only once).
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="referred_members",
        db_index=False,  # a partial index below: few members have one
    )
    #: A hash (Django's password hashers) of the 4–6 digit PIN that confirms a sale (E9); never the PIN.
    pin_hash = models.CharField(_("PIN"), max_length=128, blank=True, editable=False)
    #: Lower-case, diacritics removed: "Nguyễn Văn An" is found by "nguyen van an".
    search_text = models.TextField(editable=False, default="")

    # The PIN hash stays out of the history: old hashes of a changed PIN are no one's business.
    history = keep_history(excluded_fields=["search_text", "pin_hash"])

    STORE_FIELD = None  # members are merchant-wide: a card works in every store (A2)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "phone"],
                condition=Q(superseded_by__isnull=True, erased_at__isnull=True),
                name="member_phone_unique_per_merchant",
            ),
            models.UniqueConstraint(
                fields=["merchant", "referral_code"],
                condition=~Q(referral_code=""),
                name="member_referral_code_unique_per_merchant",
            ),
            models.CheckConstraint(condition=~Q(referred_by=F("id")), name="member_not_referred_by_self"),
        ]
        indexes = [
            models.Index(fields=["merchant", "status"]),
            models.Index(fields=["merchant", "birthday"]),
            # The two keys to other members are set on few rows: indexed where set, so that a member
            # written without them (every import row, every registration) costs no entry. A key lookup
            # (`= x`, `IN (…)`, the database's own check when a member is deleted) implies NOT NULL.
            models.Index(
                fields=["superseded_by"],
                condition=Q(superseded_by__isnull=False),
                name="member_superseded_by",
            ),
            models.Index(
                fields=["referred_by"], condition=Q(referred_by__isnull=False), name="member_referred_by"
            ),
        ]
        permissions = [
            ("export_member", _("Can print/export members")),
            ("activate_member", _("Can activate members")),
            ("exclude_member", _("Can exclude members")),
            ("reactivate_member", _("Can re-activate excluded members")),
            ("change_member_phone", _("Can change a member's phone")),
        ]

    def __str__(self) -> str:
        if self.erased_at:
            return str(_("Erased member #%(id)s") % {"id": self.pk})
        return self.full_name or str(self.phone)

    @property
    def is_current(self) -> bool:
        """False for an account replaced after a phone change, or erased."""
        return self.superseded_by_id is None and self.erased_at is None


class Anniversary(TenantOwned):
    """A date the member wants remembered (wedding, first visit…), for notices (I3)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="anniversaries"
    )
    label = models.CharField(_("occasion"), max_length=100)
    date = models.DateField(_("date"))

    class Meta:
        verbose_name = _("anniversary")
        verbose_name_plural = _("anniversaries")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.label} {self.date:%d/%m}"


class Segment(TenantOwned):
    """A saved member filter (C6), used by reports and campaigns. `filters` follows SegmentFilters."""

    name = models.CharField(_("name"), max_length=150)
    description = models.TextField(_("description"), blank=True)
    filters = models.JSONField(_("filters"), default=dict)

    history = keep_history()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="segment_name_unique_per_merchant")
        ]
        permissions = [("export_segment", _("Can print/export segments"))]

    def __str__(self) -> str:
        return self.name
