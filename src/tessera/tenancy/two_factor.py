"""Staff two-factor login (B4): who must use it, enrolment, recovery codes, verification and reset.

A staff user's second factor is a TOTP device of django-otp (an authenticator app) and a set of one-time
recovery codes (a static device). A session is *verified* once a code from either was accepted after the
password (`django_otp.login`); until then the back office answers nothing but the code page
(`tenancy.middleware.TwoFactorMiddleware`, and the admin site's `has_permission`, see `tenancy.apps`).

Wrong codes are throttled by django-otp (each failure doubles the wait, stored on the device row and
read under a row lock, so concurrent guesses buy nothing) and counted by the caller as failed logins for
django-axes, which locks the account as for wrong passwords.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tessera.core.errors import DomainError, PermissionDenied, ValidationFailed
from tessera.tenancy.models import StaffMembership
from tessera.tenancy.permissions import authorise, is_user, staff_of

log = logging.getLogger("tessera.security")

RECOVERY_CODE_COUNT = 10
# Recovery codes are 10 letters and digits (about 50 bits), shown in groups of five for reading aloud.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10

#: The permissions that make a user one who "can change settings, roles or balances" (B4).
PRIVILEGED_PERMISSIONS = frozenset(
    {
        # The merchant's settings and the settings pages of the apps.
        "tenancy.change_merchant",
        "sales.change_salessettings",
        "points.change_policy",
        "adjustments.change_adjustmentsettings",
        "marketing.change_channelsettings",
        "portal.change_widgetsettings",
        # Roles, and who holds which role (a staff user's roles are set on the staff page).
        "tenancy.add_role",
        "tenancy.change_role",
        "tenancy.delete_role",
        "tenancy.add_staffmembership",
        "tenancy.change_staffmembership",
        # Balances changed by hand: applying an adjustment voucher.
        "adjustments.apply_adjustmentvoucher",
    }
)


class TwoFactorError(DomainError):
    code = "two_factor"
    status = 409


class TooManyAttempts(DomainError):
    code = "otp_throttled"
    status = 429


def can_change_settings_roles_or_balances(user: Any) -> bool:
    """Whether `user` holds any of `PRIVILEGED_PERMISSIONS`: the users a merchant's
    `require_two_factor_for_admins` applies to.

    "Settings" are the merchant's own settings and the apps' settings pages (sales, adjustments, channels,
    website widget); "roles" are creating, changing or deleting a role and adding or changing a staff user
    (which sets their roles); "balances" are applying an adjustment voucher, the way balances are changed
    by hand. Everyday counter work (earning or deducting points in a sale, a top-up) is not included: a
    cashier's till must not need a phone. Permissions come from the user's roles, as everywhere (B1).
    """
    if not is_user(user) or not user.is_active:
        return False
    held = user.get_all_permissions()
    return bool(held & PRIVILEGED_PERMISSIONS)


def must_use_two_factor(user: Any) -> bool:
    """The user's merchant requires two-factor login of them (platform operators: optional)."""
    staff = staff_of(user)
    if staff is None or not staff.merchant.require_two_factor_for_admins:
        return False
    return can_change_settings_roles_or_balances(user)


def has_two_factor(user: Any) -> bool:
    """The user has a confirmed authenticator app."""
    return is_user(user) and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def is_verified(user: Any) -> bool:
    """The session passed the second step (set by django-otp's middleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def pending_step(user: Any) -> str | None:
    """What stands between a signed-in user and the back office: "verify", "enrol" or None."""
    if not is_user(user) or is_verified(user):
        return None
    if has_two_factor(user):
        return "verify"
    if must_use_two_factor(user):
        return "enrol"
    return None


# --- services ------------------------------------------------------------------------------------------


def _new_recovery_codes() -> list[str]:
    return [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def _normalise(token: str) -> str:
    return "".join(token.split()).replace("-", "").lower()


@transaction.atomic
def start_enrolment(*, user: Any) -> TOTPDevice:
    """A new, unconfirmed authenticator secret for `user` (or the one they started and did not finish)."""
    if has_two_factor(user):
        raise TwoFactorError(_("Two-factor login is already on."), code="two_factor_already_on")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=str(_("Authenticator app")), confirmed=False)
    return device


@transaction.atomic
def confirm_enrolment(*, user: Any, token: str) -> list[str]:
    """Turn two-factor login on once the app's first code matches; return the recovery codes (shown once)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        raise TwoFactorError(_("Start the set-up again."), code="no_pending_enrolment")
    if not device.verify_token(_normalise(token)):
        raise ValidationFailed(
            _("This code is not right. Check the phone's clock and try again."), code="invalid_token"
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    log.info("two-factor login turned on for user %s", user.pk)
    return _replace_recovery_codes(user)


def _replace_recovery_codes(user: Any) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=str(_("Recovery codes")), confirmed=True)
    codes = _new_recovery_codes()
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def new_recovery_codes(*, user: Any) -> list[str]:
    """Replace the user's recovery codes; the old ones stop working."""
    if not has_two_factor(user):
        raise TwoFactorError(_("Two-factor login is off."), code="two_factor_off")
    return _replace_recovery_codes(user)


def verify_token(*, user: Any, token: str) -> Device:
    """The device that accepts `token`: six digits are an app code, anything else a recovery code.

    The device row is locked while it is checked, so the throttle counts every concurrent guess. Raises
    `TooManyAttempts` while the throttle's wait runs, `ValidationFailed` for a wrong code.
    """
    token = _normalise(token)
    model: type[TOTPDevice] | type[StaticDevice] = (
        TOTPDevice if token.isascii() and token.isdigit() and len(token) == 6 else StaticDevice
    )
    wait: Any = None
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        if device is not None:
            allowed, info = device.verify_is_allowed()
            if not allowed:
                wait = (info or {}).get("locked_until")
            elif device.verify_token(token):
                return device
    if wait is not None:
        raise TooManyAttempts(_("Too many wrong codes. Wait a few seconds and try again."), locked_until=wait)
    raise ValidationFailed(_("This code is not right."), code="invalid_token")


def disable_two_factor(*, user: Any, token: str) -> None:
    """The user turns two-factor login off, proving it with a current code; refused if it is required."""
    if must_use_two_factor(user):
        raise PermissionDenied(
            _("Your merchant requires two-factor login for your role."), code="two_factor_required"
        )
    # Not one transaction with the removal: a wrong code's throttle count must be kept.
    verify_token(user=user, token=token)
    _remove_devices(user)
    log.info("two-factor login turned off by user %s", user.pk)


@transaction.atomic
def _remove_devices(user: Any) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


@transaction.atomic
def reset_two_factor(*, staff: StaffMembership, actor: Any = None) -> StaffMembership:
    """A merchant admin removes a staff user's authenticator and recovery codes (a lost phone). The user
    sets it up again at their next login if it is required of them. Kept in the staff history (B3)."""
    authorise(actor, "tenancy.change_staffmembership", merchant=staff.merchant_id)
    if staff.user.is_superuser:
        raise PermissionDenied(_("Platform operators are managed by operators."), code="operator_account")
    if is_user(actor) and actor.pk == staff.user_id:
        raise ValidationFailed(
            _("Turn your own two-factor login off on your two-factor page."), code="self_reset"
        )
    _remove_devices(staff.user)
    staff.stamp(actor)
    if is_user(actor):
        staff._history_user = actor  # type: ignore[attr-defined]
    staff._change_reason = "two-factor login reset"  # type: ignore[attr-defined]
    staff.save()
    log.info("two-factor login of user %s reset by %s", staff.user_id, getattr(actor, "pk", None))
    return staff
