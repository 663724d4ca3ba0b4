"""Every write of the portal: one-time login codes, member passwords, the widget's secret (G1, G2).

A code is six digits, kept only as a keyed hash, valid five minutes. Sends are throttled per phone;
five wrong codes or passwords within fifteen minutes lock the phone out of the portal for the rest of
that window. Wrong tries are counted while the code (or the password) row is locked, so tries sent at
once are checked one after the other and never more than the limit (issue 12).

"Send me a code" answers every phone alike, in words and in time (issue 12): the request records a code
row and enqueues a job for any phone, and the throttle counts those rows, members or not. Only the job
looks the member up; for a member it makes the code and sends it. A provider failure is logged and
recorded for the merchant (`CodeSendFailure`); the person asking never learns of it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
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

from tessera.core.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from tessera.core.limits import MAX_POINTS
from tessera.core.sms import send_sms
from tessera.ledger.models import Account, AccountKind, Entry
from tessera.members.models import Member, MemberStatus
from tessera.members.selectors import find_member_by_phone
from tessera.members.services import normalise_phone
from tessera.portal.models import (
    CodeSendFailure,
    LoginCode,
    LoginFailure,
    MemberCredential,
    PortalSettings,
    WidgetSettings,
)
from tessera.sales import services as sales
from tessera.tenancy.models import Merchant
from tessera.tenancy.permissions import authorise

logger = logging.getLogger(__name__)

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
    """What the login page shows: the phone a code was asked for, member or not."""

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
    """Ask for a one-time login code for `phone`; throttled per phone, members or not.

    The same work for every phone: retire earlier codes, record a code row that no code matches yet,
    and enqueue `send_login_code` after commit. Whether the phone is a member's is decided there."""
    now = now or timezone.now()
    e164 = _phone(merchant, phone)
    _ensure_not_locked(merchant, e164, now)
    expires_at = now + CODE_LIFETIME
    with transaction.atomic():
        recent = LoginCode.objects.filter(
            merchant=merchant, phone=e164, created_at__gte=now - timedelta(hours=1)
        )
        if recent.filter(created_at__gte=now - SEND_INTERVAL).exists() or recent.count() >= SENDS_PER_HOUR:
            raise TooManyCodes(_("A code was sent a moment ago. Wait a little before asking for another."))
        # Asking for a new code retires the previous ones.
        LoginCode.objects.filter(merchant=merchant, phone=e164, used_at__isnull=True).update(used_at=now)
        login_code = LoginCode.objects.create(
            merchant=merchant, phone=e164, code_hash="", expires_at=expires_at, created_at=now
        )
        from tessera.portal.tasks import send_login_code_task  # the task module imports this one

        transaction.on_commit(lambda: send_login_code_task(login_code.pk))
    return CodeRequested(phone=e164, expires_at=expires_at)


def send_login_code(*, login_code_id: int, now: datetime | None = None) -> bool:
    """The job behind `request_login_code`: for a member's phone, make the code, keep its hash and send
    it. True when a code left. Never raises for provider trouble: it is logged and recorded for the
    merchant (`CodeSendFailure`), and the member simply gets no SMS."""
    now = now or timezone.now()
    login_code = (
        LoginCode.objects.select_related("merchant")
        .filter(pk=login_code_id, code_hash="", used_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if login_code is None:
        return False
    merchant, e164 = login_code.merchant, login_code.phone
    member = find_member_by_phone(merchant=merchant, phone=e164)
    if member is None:
        return False
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # Claimed with one conditional UPDATE: a job run twice sends one code.
    claimed = LoginCode.objects.filter(pk=login_code.pk, code_hash="", used_at__isnull=True).update(
        code_hash=_code_digest(merchant.pk, e164, code)
    )
    if not claimed:
        return False
    with override(merchant.default_language):
        text = str(
            _("%(merchant)s: your login code is %(code)s. It is valid for 5 minutes.")
            % {"merchant": merchant.name, "code": code}
        )
    try:
        send_sms(merchant=merchant, phone=e164, text=text)
    except Exception as exc:  # any provider trouble is the merchant's to see, never the member's
        detail = str(getattr(exc, "detail", "") or exc or type(exc).__name__)[:300]
        logger.warning("Login code for member %s of merchant %s not sent: %s", member.pk, merchant.pk, detail)
        CodeSendFailure.objects.create(merchant=merchant, member=member, phone=e164, error=detail)
        return False
    return True


def _fail(merchant: Merchant, phone: str, now: datetime) -> None:
    LoginFailure.objects.create(merchant=merchant, phone=phone, created_at=now)


def verify_login_code(*, merchant: Merchant, phone: str, code: str, now: datetime | None = None) -> Member:
    """The member whose phone received `code`; a wrong or stale code counts towards the lockout.

    The phone's newest code row stays locked from the lockout check to the recorded failure, so tries
    sent at once are checked one at a time and the limit holds."""
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
        _ensure_not_locked(merchant, e164, now)  # again, now that concurrent tries wait for us
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
    """The member with `phone` whose portal password is `password`; a wrong one counts towards the lockout.

    The member's password row stays locked from the lockout check to the recorded failure (see
    `verify_login_code`)."""
    now = now or timezone.now()
    e164 = _phone(merchant, phone)
    _ensure_not_locked(merchant, e164, now)
    with transaction.atomic():
        member = find_member_by_phone(merchant=merchant, phone=e164)
        credential = (
            MemberCredential.objects.of(merchant).select_for_update().filter(member=member).first()
            if member is not None
            else None
        )
        _ensure_not_locked(merchant, e164, now)
        correct = credential is not None and check_password(password, credential.password_hash)
        if correct:
            LoginFailure.objects.filter(merchant=merchant, phone=e164).delete()
        else:
            _fail(merchant, e164, now)
    if not correct:
        raise InvalidLogin(_("The phone number or password is wrong."), code="invalid_password")
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


# --- points sent by a member (issue 15 §6) ---------------------------------------------------------


def portal_settings_of(merchant: Merchant) -> PortalSettings:
    """The merchant's portal settings; the defaults (members send nothing) when never changed."""
    return PortalSettings.objects.filter(merchant=merchant).first() or PortalSettings(merchant=merchant)


@transaction.atomic
def update_portal_settings(*, merchant: Merchant, actor: Any = None, **fields: Any) -> PortalSettings:
    """Change what members may do in the portal (fields of `PortalSettings`); created on first change."""
    authorise(actor, "portal.change_portalsettings", merchant=merchant)
    row = PortalSettings.objects.select_for_update().filter(merchant=merchant).first() or PortalSettings(
        merchant=merchant
    )
    for name, value in fields.items():
        setattr(row, name, value)
    row.stamp(actor)
    row.full_clean()
    row.save()
    return row


def transfer_recipient(*, member: Member, phone: str, points: int) -> Member:
    """Who `member` would send `points` to, by phone, checked as `send_points` checks (before the
    member is asked to confirm): the merchant allows it, the amount is within the limit, the phone is
    another active member's."""
    allowed = portal_settings_of(member.merchant)
    if not allowed.members_may_transfer:
        raise PermissionDenied(
            _("Sending points to other members is not offered."), code="transfer_not_offered"
        )
    if isinstance(points, bool) or not 0 < points <= MAX_POINTS:
        raise ValidationFailed(_("Enter a positive number of points."), code="no_points")
    if allowed.transfer_max_points and points > allowed.transfer_max_points:
        raise ValidationFailed(
            _("At most %(points)s points can be sent at a time.") % {"points": allowed.transfer_max_points},
            code="transfer_over_limit",
        )
    target = find_member_by_phone(merchant=member.merchant, phone=phone)
    if target is None or target.status == MemberStatus.EXCLUDED:
        raise ValidationFailed(_("No member has this phone number."), code="recipient_not_found")
    if target.pk == member.pk:
        raise ValidationFailed(_("Points cannot be moved to the same member."), code="same_member")
    return target


def send_points(
    *, member: Member, phone: str, points: int, message: str = "", now: datetime | None = None
) -> sales.PointsTransfer:
    """The member sends `points` of their spendable points to the member with `phone` (issue 15 §6):
    the lots move with their expiry dates, both histories show it. At most `transfers_per_day` a day
    in the merchant's zone, counted under the lock of the sender's points account, so two tabs cannot
    pass the limit together."""
    now = now or timezone.now()
    target = transfer_recipient(member=member, phone=phone, points=points)
    merchant = member.merchant
    day_start = timezone.localtime(now, merchant.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        account = (
            Account.objects.select_for_update()
            .filter(merchant=merchant, member=member, kind=AccountKind.POINTS)
            .first()
        )
        if account is None:
            raise ValidationFailed(_("You have no points to send."), code="no_points")
        sent_today = Entry.objects.filter(
            account=account,
            amount__lt=0,
            source__startswith=f"{sales.PORTAL_TRANSFER}:{member.pk}:",
            occurred_at__gte=day_start,
        ).count()
        if sent_today >= portal_settings_of(merchant).transfers_per_day:
            raise Conflict(
                _("You have sent points as often as allowed today; try again tomorrow."),
                code="transfers_per_day_reached",
            )
        return sales.transfer_points(
            source=member,
            target=target,
            points=points,
            reason=" ".join(message.split())[:200],
            actor=None,
            by_member=True,
            now=now,
        )
