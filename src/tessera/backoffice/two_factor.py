"""Staff two-factor login pages (B4): the second step after the password, and the staff user's own
two-factor page (set up an authenticator app, recovery codes, turn it off).

The rules and writes are in `tessera.tenancy.two_factor`; `tenancy.middleware.TwoFactorMiddleware` sends a
user who has not passed their second step here from every other back-office address. A wrong code counts
as a failed login for django-axes, so guessing codes locks the account as guessing passwords does.
"""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable
from typing import Any

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME, logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from reportlab.graphics.barcode.qr import QrCodeWidget

from tessera.backoffice.forms import TwoFactorCodeForm
from tessera.core.errors import DomainError
from tessera.tenancy import two_factor


def _staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in with a password, active back-office user; the second step is not required here."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            login = reverse("admin:login")
            return HttpResponseRedirect(f"{login}?{REDIRECT_FIELD_NAME}={request.path}")
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)  # secrets and recovery codes must stay in no cache
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _next(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _credentials(request: HttpRequest) -> dict[str, str]:
    return {"username": request.user.get_username()}


def _locked_out(request: HttpRequest) -> HttpResponse:
    """Axes locked this user name (wrong passwords or codes): end the half-open session, say so."""
    credentials = _credentials(request)
    logout(request)
    return get_lockout_response(request, None, credentials)


@_staff_only
def verify(request: HttpRequest) -> HttpResponse:
    """The second step after the password: a code from the app, or a recovery code (used once)."""
    if two_factor.pending_step(request.user) != "verify":
        return HttpResponseRedirect(_next(request))
    if AxesProxyHandler.is_locked(request, _credentials(request)):
        return _locked_out(request)
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.verify_token(user=request.user, token=form.cleaned_data["code"])
        except DomainError as error:
            if error.code == "invalid_token":
                user_login_failed.send(sender=__name__, credentials=_credentials(request), request=request)
                if getattr(request, "axes_locked_out", False):
                    return _locked_out(request)
            form.add_error("code", str(error.message))
        else:
            django_otp.login(request, device)
            if device.persistent_id.startswith("otp_static"):
                left = StaticToken.objects.filter(device__user=request.user).count()
                messages.warning(
                    request,
                    _("You used a recovery code; %(count)d are left. Make new ones on your two-factor page.")
                    % {"count": left},
                )
            return HttpResponseRedirect(_next(request))
    context = {
        **admin.site.each_context(request),
        "title": _("Two-factor login"),
        "form": form,
        "next": _next(request),
    }
    return render(request, "backoffice/two_factor/verify.html", context)


@_staff_only
def manage(request: HttpRequest) -> HttpResponse:
    """The staff user's own two-factor page: set it up, new recovery codes, turn it off."""
    user = request.user
    action = request.POST.get("action") if request.method == "POST" else None
    form = TwoFactorCodeForm(request.POST if action in ("confirm", "disable") else None)
    try:
        if action == "start":
            two_factor.start_enrolment(user=user)
            return HttpResponseRedirect(request.get_full_path())
        if action == "confirm" and form.is_valid():
            codes = two_factor.confirm_enrolment(user=user, token=form.cleaned_data["code"])
            device = TOTPDevice.objects.get(user=user, confirmed=True)
            django_otp.login(request, device)  # the first code proved the app: this session is verified
            return _recovery_codes(request, codes, _("Two-factor login is on."))
        if action == "codes":
            codes = two_factor.new_recovery_codes(user=user)
            return _recovery_codes(request, codes, _("New recovery codes"))
        if action == "disable" and form.is_valid():
            two_factor.disable_two_factor(user=user, token=form.cleaned_data["code"])
            messages.success(request, _("Two-factor login is off."))
            return HttpResponseRedirect(request.path)
    except DomainError as error:
        if action in ("confirm", "disable"):
            form.add_error("code", str(error.message))
        else:
            messages.error(request, str(error.message))
    enabled = two_factor.has_two_factor(user)
    pending = None if enabled else TOTPDevice.objects.filter(user=user, confirmed=False).first()
    context = {
        **admin.site.each_context(request),
        "title": _("Two-factor login"),
        "enabled": enabled,
        "required": two_factor.must_use_two_factor(user),
        "pending": pending,
        "qr": _qr_svg(pending.config_url) if pending else None,
        "secret": _grouped(b32encode(pending.bin_key).decode()) if pending else None,
        "codes_left": StaticToken.objects.filter(device__user=user).count() if enabled else None,
        "form": form,
        "action": action,
        "next": _next(request),
    }
    return render(request, "backoffice/two_factor/manage.html", context)


def _recovery_codes(request: HttpRequest, codes: list[str], title: str) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "title": title,
        "codes": [_grouped(code, 5) for code in codes],
        "next": _next(request),
    }
    return render(request, "backoffice/two_factor/recovery_codes.html", context)


def _grouped(text: str, size: int = 4) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def _qr_svg(payload: str) -> SafeString:
    """The QR code as inline SVG: one path and presentation attributes, no style (content security policy).

    Only coordinates are written, never the payload, so it is safe to put in the page as it is."""
    widget = QrCodeWidget(payload, barLevel="M")
    widget.qr.make()
    modules = widget.qr.modules
    border = 4
    size = len(modules) + 2 * border
    path = "".join(
        f"M{c + border} {r + border}h1v1h-1z"
        for r, row in enumerate(modules)
        for c, dark in enumerate(row)
        if dark
    )
    return mark_safe(  # noqa: S308 - numbers only, see above
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{size * 5}" '
        f'height="{size * 5}" shape-rendering="crispEdges" id="two-factor-qr">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path fill="#000" d="{path}"/></svg>'
    )
