"""Public endpoints of the marketing app: a provider's signed delivery receipts, and the unsubscribe
page of a signed email link. Neither needs a login; each is authorised by its signature."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tessera.core.errors import DomainError
from tessera.core.problem import problem
from tessera.marketing import services
from tessera.marketing.models import ChannelKind


@csrf_exempt
@require_POST
def receive_receipts(request: HttpRequest, token: str) -> HttpResponse:
    """200 with counts once applied; 401 forged or stale, 404 unknown address, 422 unreadable: nothing
    changed."""
    try:
        result = services.record_receipts(token=token, body=request.body, headers=request.headers)
    except DomainError as exc:
        return problem(request, status=exc.status, code=exc.code, detail=str(exc.message))
    return JsonResponse({"updated": result.updated, "unchanged": result.unchanged, "unknown": result.unknown})


# The POST comes from the page's button or, with no CSRF token, from a mail provider's one-click
# unsubscribe (RFC 8058); the signed token in the address is the authorisation either way.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        member, channel = services.member_of_unsubscribe_token(token)
    except DomainError:
        return render(request, "marketing/unsubscribe.html", {"invalid": True}, status=404)
    done = request.method == "POST"
    if done:
        member = services.unsubscribe(token=token)
    with translation.override(member.merchant.default_language):
        context = {
            "merchant": member.merchant,
            "done": done,
            "channel_name": _("emails") if channel == ChannelKind.EMAIL else _("text messages"),
            "LANGUAGE_CODE": member.merchant.default_language,
        }
        return render(request, "marketing/unsubscribe.html", context)
