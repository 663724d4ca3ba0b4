"""The website widget (G2): /m/<slug>/widget.js and its JSON API under /m/<slug>/widget/api/.

The shop signs who its shopper is: token = hex(HMAC-SHA256(secret, f"{phone}.{timestamp}")), with the
merchant's widget secret and a Unix timestamp in seconds, valid for ten minutes. The API trusts nothing
else: no cookies, no session. A missing, forged or expired token, an unknown phone or a member who is
not active gets 401/404 and the widget shows nothing. Browsers may call it only from allowed origins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel

from tessera.core.errors import DomainError
from tessera.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from tessera.core.idempotency import idempotent
from tessera.core.limits import parse_ascii_int, parse_json_int
from tessera.core.problem import problem
from tessera.members.models import Member, MemberStatus
from tessera.members.selectors import find_member_by_phone
from tessera.portal import selectors
from tessera.portal.branding import branding
from tessera.portal.models import WidgetSettings
from tessera.rewards import selectors as rewards
from tessera.rewards.models import IssuedVia
from tessera.rewards.services import redeem_points_for_code
from tessera.tenancy.models import Merchant

#: How long a shop's token is good for, and how far ahead of our clock its timestamp may be.
MAX_AGE_SECONDS = 600
CLOCK_SKEW_SECONDS = 60
PHONE_HEADER, TIMESTAMP_HEADER, TOKEN_HEADER = "X-Widget-Phone", "X-Widget-Timestamp", "X-Widget-Token"
ALLOWED_HEADERS = ", ".join(
    ["Content-Type", IDEMPOTENCY_HEADER, PHONE_HEADER, TIMESTAMP_HEADER, TOKEN_HEADER]
)


def sign(secret: str, phone: str, timestamp: int | str) -> str:
    """The token a shop sends for `phone` at `timestamp` (what docs/widget.md shows in PHP/Node/Python)."""
    return hmac.new(secret.encode(), f"{phone}.{timestamp}".encode(), hashlib.sha256).hexdigest()


def token_is_valid(*, secret: str, phone: str, timestamp: str, token: str, now: float | None = None) -> bool:
    # ASCII digits only: "²" is a digit to str.isdigit() but not to int(); no sign, no spaces (signed as is).
    stamp = parse_ascii_int(timestamp) if timestamp.isdigit() else None
    if not (secret and phone and token) or stamp is None:
        return False
    age = (time.time() if now is None else now) - stamp
    if age > MAX_AGE_SECONDS or age < -CLOCK_SKEW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, phone, timestamp), token.strip().lower())


def _widget_of(slug: str) -> WidgetSettings:
    return get_object_or_404(
        WidgetSettings.objects.select_related("merchant"),
        merchant__slug=slug,
        merchant__is_active=True,
        is_enabled=True,
    )


def _allowed_origin(request: HttpRequest, widget: WidgetSettings) -> str | None:
    origin = request.headers.get("Origin")
    return origin if origin and origin.rstrip("/") in widget.origins() else None


def _with_cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    response["Vary"] = "Origin"
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = "600"
    return response


def _shopper(request: HttpRequest, widget: WidgetSettings) -> Member | None:
    """The active member the shop's token names, or None (which the widget shows as nothing)."""
    phone = request.headers.get(PHONE_HEADER, "")
    if not token_is_valid(
        secret=widget.secret,
        phone=phone,
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        token=request.headers.get(TOKEN_HEADER, ""),
    ):
        return None
    member = find_member_by_phone(merchant=widget.merchant, phone=phone)
    if member is None or member.status != MemberStatus.ACTIVE:
        return None
    return member


def widget_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CORS for allowed origins (403 for others), a valid token naming an active member (else 401)."""

    @csrf_exempt  # no cookies are read: the shop's signed token is the only credential
    @wraps(view)
    def wrapper(request: HttpRequest, slug: str) -> HttpResponse:
        widget = _widget_of(slug)
        origin = _allowed_origin(request, widget)
        if request.headers.get("Origin") and origin is None:
            response = problem(
                request, status=403, code="origin_not_allowed", detail=_("This site may not use the widget.")
            )
            return _with_cors(response, None)
        if request.method == "OPTIONS":
            return _with_cors(HttpResponse(status=204), origin)
        translation.activate(widget.merchant.default_language)
        member = _shopper(request, widget)
        if member is None:
            response = problem(request, status=401, code="invalid_token", detail=_("Not signed in."))
        else:
            response = view(request, widget.merchant, member)
        return _with_cors(response, origin)

    return wrapper


class WidgetPoints(BaseModel):
    balance: int
    spendable: int
    pending: int


class WidgetTier(BaseModel):
    name: str
    next_name: str | None = None
    progress_percent: int | None = None


class WidgetOffer(BaseModel):
    id: int
    name: str
    points: int
    value: str


class WidgetMe(BaseModel):
    name: str
    points: WidgetPoints
    tier: WidgetTier | None
    offers: list[WidgetOffer]


class WidgetCode(BaseModel):
    code: str


def _json(payload: BaseModel, status: int = 200) -> HttpResponse:
    return HttpResponse(payload.model_dump_json(), status=status, content_type="application/json")


def _tier(member: Member) -> WidgetTier | None:
    progress = selectors.tier_of(member)
    if progress is None or progress.name is None:
        return None
    return WidgetTier(name=progress.name, next_name=progress.next_name, progress_percent=progress.percent)


def _offers(member: Member) -> list[WidgetOffer]:
    return [
        WidgetOffer(id=offer.pk, name=offer.name, points=offer.points, value=offer.value)
        for offer in selectors.rewards_of(member).offers
    ]


@widget_api
def me(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    if request.method != "GET":
        return HttpResponse(status=405)
    summary = selectors.points_of(member)
    points = WidgetPoints(
        balance=summary.balance if summary else 0,
        spendable=summary.spendable if summary else 0,
        pending=summary.pending if summary else 0,
    )
    return _json(WidgetMe(name=member.full_name, points=points, tier=_tier(member), offers=_offers(member)))


@widget_api
def redeem(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    """Turn points into a promo code: body {"offer": id}, header Idempotency-Key."""
    if request.method != "POST":
        return HttpResponse(status=405)
    try:
        offer_id = parse_json_int(json.loads(request.body or b"{}").get("offer"))
    except (ValueError, AttributeError):
        offer_id = None
    if offer_id is None:
        return problem(request, status=422, code="validation_failed", detail=_("Choose an offer."))
    offer = rewards.offers_for(member).filter(pk=offer_id).first()
    if offer is None:
        return problem(request, status=404, code="not_found", detail=_("Not found."))

    def work() -> tuple[int, BaseModel]:
        code = redeem_points_for_code(member=member, offer=offer, channel=IssuedVia.WIDGET)
        return 200, WidgetCode(code=code.code)

    try:
        return idempotent(request, merchant=merchant, key=request.headers.get(IDEMPOTENCY_HEADER), work=work)
    except DomainError as exc:
        return problem(request, status=exc.status, code=exc.code, detail=str(exc.message))


def script(request: HttpRequest, slug: str) -> HttpResponse:
    """The widget itself: vanilla JS that draws a floating button and a panel in a shadow DOM."""
    widget = _widget_of(slug)
    merchant = widget.merchant
    language = request.GET.get("lang", "")
    if language not in dict(settings.LANGUAGES):
        language = merchant.default_language
    brand = branding(merchant)
    with translation.override(language):
        config: dict[str, Any] = {
            "api": request.build_absolute_uri(reverse("portal:widget_me", kwargs={"slug": slug})).rsplit(
                "/", 1
            )[0],
            "primary": brand.primary,
            "accent": brand.accent,
            "merchant": merchant.name,
            "text": {
                "open": _("My points"),
                "close": _("Close"),
                "points": _("Points"),
                "available": _("Available"),
                "tier": _("Tier"),
                "redeem": _("Redeem for a code"),
                "your_code": _("Your promo code"),
                "failed": _("That did not work. Please try again."),
                "no_offers": _("No offers right now."),
            },
        }
    body = render_to_string("portal/widget.js", {"config": json.dumps(config)})
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response
