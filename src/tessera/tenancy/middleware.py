"""Per-request tenancy: who the staff user is, which merchant they work for, and whether they passed the
second login step (B4)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation

from tessera.tenancy import two_factor
from tessera.tenancy.permissions import staff_of


class StaffLocaleMiddleware:
    """Sets `request.staff`; staff work in their merchant's time zone and, unless they chose another,
    its default language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        staff = staff_of(request.user)  # API requests never get here (core.middleware.ApiShortcut)
        request.staff = staff  # type: ignore[attr-defined]
        if staff is None:
            return self.get_response(request)
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            translation.activate(staff.merchant.default_language)
            request.LANGUAGE_CODE = translation.get_language()
        # Times are stored in UTC and shown in the merchant's time zone (DESIGN "Money, points, time").
        timezone.activate(staff.merchant.tz)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


@lru_cache(maxsize=8)
def _guarded(script_prefix: str) -> tuple[str, str]:
    """The addresses behind the second step, reversed once per prefix (not on every request)."""
    return reverse("admin:index"), reverse("scanner:scan")


class TwoFactorMiddleware:
    """Until a signed-in user has passed the second step that applies to them, every back-office address
    (the admin and the staff scanner) leads to it (B4): the code page for a user with an authenticator
    app, the set-up page for one whose merchant requires it and who has none yet. Logging out stays open.
    """

    STEP_PAGES = {"verify": "backoffice:two_factor_verify", "enrol": "backoffice:two_factor"}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(_guarded(get_script_prefix())) and request.user.is_authenticated:
            step = two_factor.pending_step(request.user)
            request.two_factor_passed = step is None  # type: ignore[attr-defined]  # for has_permission
            if step is not None:
                page = reverse(self.STEP_PAGES[step])
                if request.path not in (page, reverse("admin:logout")):
                    if request.method == "GET":
                        page = f"{page}?{urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})}"
                    return HttpResponseRedirect(page)
        return self.get_response(request)
