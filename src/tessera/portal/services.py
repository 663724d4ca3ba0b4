"""Every write of the portal: one-time login codes, member passwords, the widget's secret (G1, G2).

A code is six digits, kept only as a keyed hash, valid five minutes. Sends are throttled per phone;
five wrong codes or passwords within fifteen minutes lock the phone out of the portal for the rest of
that window. A phone that is no member's gets the same answer as one that is, and no SMS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from tessera.core.errors import DomainError, ValidationFailed
from tessera.core.sms import send_sms
from tessera.members.models import Member
from tessera.members.selectors import find_member_by_phone
from tessera.members.services import normalise_phone
from tessera.portal.models import LoginCode, LoginFailure, MemberCredential, WidgetSettings
from tessera.tenancy.models import Merchant

CODE_LIFETIME = timedelta(minutes=5)
CODE_DIGITS = 6
#: Wrong codes or passwords allowed per phone within LOCKOUT_WINDOW before the phone is locked out.
MAX_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
#: Sends per phone: one a minute, five an hour.
SEND_INTERVAL = timedelta(minutes=1)
SENDS_PER_HOUR = 5


class LoginLocked(DomainError):
    code = "login_locked"
    status = 423


class TooManyCodes(DomainError):
    code = "too_many_codes"
    status = 429


class InvalidLogin(DomainError):
    code = "invalid_login"
    status = 401


@dataclass(frozen=True)
class CodeRequested:
    """What the login page tells the member: where a code was sent (if the phone is a member's)."""

    phone: str
    expires_at: datetime


def _code_digest(merchant_id: int, phone: str, code: str) -> str:
    message = f"portal:{merchant_id}:{phone}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _phone(merchant: Merchant, phone: str) -> str:
    return normalise_phone(phone, merchant=merchant)


def is_locked_out(*, merchant: Merchant, phone: str, now: datetime | None = None) -> bool:
    since = (now or timezone.now()) - LOCKOUT_WINDOW
    failures = LoginFailure.objects.filter(merchant=merchant, phone=phone, created_at__gte=since).count()
    return failures >= MAX_FAILURES


def _ensure_not_locked(merchant: Merchant, phone: str, now: datetime) -> None:
    if is_locked_out(merchant=merchant, phone=phone, now=now):
        raise LoginLocked(
            _("Too many wrong tries. Try again in %(minutes)s minutes.")
            % {"minutes": int(LOCKOUT_WINDOW.total_seconds() // 60)}
        )


def request_login_code(*, merchant: Merchant, phone: str, now: datetime | None = None) -> CodeRequested:
    """Send a one-time login code by SMS to the member with `phone`; throttled per phone."""
    now = now or timezone.now()
    e164 = _phone(merchant, phone)
    _ensure_not_locked(merchant, e164, now)
    recent = LoginCode.objects.filter(merchant=merchant, phone=e164, created_at__gte=now - timedelta(hours=1))
    if recent.filter(created_at__gte=now - SEND_INTERVAL).exists() or recent.count() >= SENDS_PER_HOUR:
        raise TooManyCodes(_("A code was sent a moment ago. Wait a little before asking for another."))
    expires_at = now + CODE_LIFETIME
    member = find_member_by_phone(merchant=merchant, phone=e164)
    if member is None:
        return CodeRequested(phone=e164, expires_at=expires_at)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        # Asking for a new code retires the previous ones.
        LoginCode.objects.filter(merchant=merchant, phone=e164, used_at__isnull=True).update(used_at=now)
        LoginCode.objects.create(
            merchant=merchant,
            phone=e164,
            code_hash=_code_digest(merchant.pk, e164, code),
            expires_at=expires_at,
            created_at=now,
        )
    with override(merchant.default_language):
        text = str(
            _("%(merchant)s: your login code is %(code)s. It is valid for 5 minutes.")
            % {"merchant": merchant.name, "code": code}
        )
    send_sms(merchant=merchant, phone=e164, text=text)
    return CodeRequested(phone=e164, expires_at=expires_at)


def _fail(merchant: Merchant, phone: str, now: datetime) -> None:
    LoginFailure.objects.create(merchant=merchant, phone=phone, created_at=now)


def verify_login_code(*, merchant: Merchant, phone: str, code: str, now: datetime | None = None) -> Member:
    """The member whose phone received `code`; a wrong or stale code counts towards the lockout."""
    now = now or timezone.now()
    e164 = _phone(merchant, phone)
    _ensure_not_locked(merchant, e164, now)
    member = None
    with transaction.atomic():
        login_code = (
            LoginCode.objects.select_for_update()
            .filter(merchant=merchant, phone=e164, used_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        supplied = _code_digest(merchant.pk, e164, str(code or "").strip())
        if login_code is not None and hmac.compare_digest(login_code.code_hash, supplied):
            login_code.used_at = now
            login_code.save(update_fields=["used_at"])
            member = find_member_by_phone(merchant=merchant, phone=e164)
        elif login_code is not None:
            login_code.attempts += 1
            if login_code.attempts >= MAX_FAILURES:
                login_code.used_at = now
            login_code.save(update_fields=["attempts", "used_at"])
        if member is None:
            _fail(merchant, e164, now)
        else:
            LoginFailure.objects.filter(merchant=merchant, phone=e164).delete()
    if member is None:
        raise InvalidLogin(_("The code is wrong or has expired."), code="invalid_code")
    return member


def check_password_login(
    *, merchant: Merchant, phone: str, password: str, now: datetime | None = None
) -> Member:
    """The member with `phone` whose portal password is `password`; a wrong one counts towards the lockout."""
    now = now or timezone.now()
    e164 = _phone(merchant, phone)
    _ensure_not_locked(merchant, e164, now)
    member = find_member_by_phone(merchant=merchant, phone=e164)
    credential = (
        MemberCredential.objects.of(merchant).filter(member=member).first() if member is not None else None
    )
    if credential is None or not check_password(password, credential.password_hash):
        _fail(merchant, e164, now)
        raise InvalidLogin(_("The phone number or password is wrong."), code="invalid_password")
    LoginFailure.objects.filter(merchant=merchant, phone=e164).delete()
    assert member is not None  # a credential was found for it
    return member


@transaction.atomic
def set_member_password(*, member: Member, password: str, actor: Any = None) -> MemberCredential:
    """Set (or replace) the member's portal password; Django's password rules apply."""
    try:
        validate_password(password)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), code="weak_password") from None
    credential = MemberCredential.objects.filter(member=member).first() or MemberCredential(
        merchant_id=member.merchant_id, member=member
    )
    credential.password_hash = make_password(password)
    credential.stamp(actor)
    credential.save()
    return credential


# --- website widget ---------------------------------------------------------------------------------


def widget_settings_of(merchant: Merchant) -> WidgetSettings | None:
    return WidgetSettings.objects.filter(merchant=merchant).first()


@dataclass(frozen=True)
class WidgetSecret:
    settings: WidgetSettings
    #: The new secret in clear: show it once, it is not shown again.
    secret: str


@transaction.atomic
def rotate_widget_secret(*, merchant: Merchant, actor: Any = None) -> WidgetSecret:
    """Create the merchant's widget settings, or give them a new secret; tokens signed with the old
    secret stop working at once."""
    secret = secrets.token_hex(32)
    widget = WidgetSettings.objects.select_for_update().filter(merchant=merchant).first() or WidgetSettings(
        merchant=merchant
    )
    widget.secret = secret
    widget.secret_rotated_at = timezone.now()
    widget.stamp(actor)
    widget.save()
    return WidgetSecret(settings=widget, secret=secret)


@transaction.atomic
def update_widget_settings(
    *, widget: WidgetSettings, allowed_origins: list[str], is_enabled: bool, actor: Any = None
) -> WidgetSettings:
    cleaned = []
    for origin in allowed_origins:
        origin = origin.strip().rstrip("/")
        if not origin:
            continue
        if not origin.startswith(("https://", "http://")) or "/" in origin.split("://", 1)[1]:
            raise ValidationFailed(
                _("“%(origin)s” is not an origin like https://shop.example.com.") % {"origin": origin},
                code="invalid_origin",
            )
        cleaned.append(origin)
    widget.allowed_origins = "\n".join(cleaned)
    widget.is_enabled = is_enabled
    widget.stamp(actor)
    widget.save()
    return widget
