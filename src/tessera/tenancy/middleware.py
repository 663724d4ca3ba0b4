"""Per-request tenancy: who the staff user is and which merchant they work for."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from tessera.tenancy.services import staff_of


class StaffLanguageMiddleware:
    """Sets `request.staff`; staff who never chose a language work in their merchant's default one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        staff = staff_of(request.user)
        request.staff = staff  # type: ignore[attr-defined]
        if staff is not None and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            translation.activate(staff.merchant.default_language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
