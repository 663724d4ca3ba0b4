"""Per-request tenancy: who the staff user is and which merchant they work for."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from tessera.tenancy.permissions import staff_of


class StaffLocaleMiddleware:
    """Sets `request.staff`; staff work in their merchant's time zone and, unless they chose another,
    its default language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        staff = staff_of(request.user)
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
