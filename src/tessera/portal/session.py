"""Who is signed in to a merchant's portal, and in which language and time zone pages are shown.

Members are not Django users. After a code or password is checked, the member id is kept in the
session under a key of that merchant only, so a session signed in at merchant A is nobody at
merchant B, whatever slug is in the address (G1). Under /m/ `request.session` is the portal's own
session, in its own cookie (tessera.core.security.SessionMiddleware): never a staff session.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation

from tessera.members.models import Member
from tessera.tenancy.models import Merchant


def session_key(merchant: Merchant) -> str:
    return f"portal:member:{merchant.pk}"


def sign_in(request: HttpRequest, member: Member) -> None:
    request.session.cycle_key()  # a new session id at sign-in: no fixation
    request.session[session_key(member.merchant)] = member.pk


def sign_out(request: HttpRequest, merchant: Merchant) -> None:
    request.session.pop(session_key(merchant), None)


def signed_in_member(request: HttpRequest, merchant: Merchant) -> Member | None:
    member_id = request.session.get(session_key(merchant))
    if not member_id:
        return None
    member = Member.objects.of(merchant).filter(pk=member_id).select_related("merchant").first()
    if member is None or not member.is_current:
        # Erased, or replaced after a phone change: the old session ends.
        sign_out(request, merchant)
        return None
    return member


def activate_merchant(request: HttpRequest, merchant: Merchant) -> None:
    """The merchant's language unless the visitor chose one; its time zone always."""
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        translation.activate(merchant.default_language)
        request.LANGUAGE_CODE = translation.get_language()
    timezone.activate(merchant.tz)


def merchant_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Resolve `slug` to an active merchant (else 404), set `request.merchant` and `request.member`."""

    @wraps(view)
    def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        merchant = get_object_or_404(Merchant, slug=slug, is_active=True)
        activate_merchant(request, merchant)
        request.merchant = merchant  # type: ignore[attr-defined]
        request.member = signed_in_member(request, merchant)  # type: ignore[attr-defined]
        try:
            return view(request, merchant, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper
