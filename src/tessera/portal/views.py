"""The member portal at /m/<merchant-slug>/ (G1): sign in by one-time code or password, then the
card, points, tier, history and rewards. Excluded members see only that their membership is inactive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import BaseModel

from tessera.core.errors import DomainError
from tessera.core.formatting import format_points
from tessera.core.idempotency import idempotent
from tessera.core.limits import parse_id
from tessera.members.models import Member, MemberStatus
from tessera.members.selectors import public_name
from tessera.portal import selectors, services
from tessera.portal.branding import branding
from tessera.portal.session import merchant_page, sign_in, sign_out
from tessera.rewards import selectors as rewards
from tessera.rewards import services as rewards_services
from tessera.rewards.models import IssuedVia
from tessera.tenancy.models import Merchant

PENDING_PHONE = "portal:phone:{merchant}"


def _render(
    request: HttpRequest, merchant: Merchant, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(
        request,
        f"portal/{template}",
        {
            "merchant": merchant,
            "brand": branding(merchant),
            "member": getattr(request, "member", None),
            **context,
        },
        status=status,
    )


def member_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in at this merchant, else to its login page. Excluded members get the inactive page."""

    @wraps(view)
    def wrapper(request: HttpRequest, merchant: Merchant, *args: Any, **kwargs: Any) -> HttpResponse:
        member: Member | None = request.member  # type: ignore[attr-defined]
        if member is None:
            return redirect("portal:login", slug=merchant.slug)
        if member.status == MemberStatus.EXCLUDED:
            return _render(request, merchant, "inactive.html", {}, status=403)
        return view(request, merchant, member, *args, **kwargs)

    return wrapper


@require_http_methods(["GET"])
@merchant_page
@member_required
def home(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    return _render(
        request,
        merchant,
        "home.html",
        {
            "card": selectors.digital_card(member),
            "points": selectors.points_of(member),
            "tier": selectors.tier_of(member),
            "rewards": selectors.rewards_of(member),
            "may_send_points": services.portal_settings_of(merchant).members_may_transfer,
            "referral": selectors.referral_of(member),
            "idempotency_key": uuid.uuid4(),
        },
    )


@require_http_methods(["GET"])
@merchant_page
@member_required
def history(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    return _render(
        request,
        merchant,
        "history.html",
        {
            "entries": selectors.point_entries(member, page=parse_id(request.GET.get("page")) or 1),
            "payments": selectors.payments_of(member),
        },
    )


@require_http_methods(["GET", "POST"])
@merchant_page
def login(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Step one: a phone number, then either "send me a code" or a password."""
    if request.member is not None:  # type: ignore[attr-defined]
        return redirect("portal:home", slug=merchant.slug)
    phone = request.POST.get("phone", "").strip()
    if request.method == "POST":
        try:
            if request.POST.get("password"):
                member = services.check_password_login(
                    merchant=merchant, phone=phone, password=request.POST["password"]
                )
                sign_in(request, member)
                return redirect("portal:home", slug=merchant.slug)
            sent = services.request_login_code(merchant=merchant, phone=phone)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            request.session[PENDING_PHONE.format(merchant=merchant.pk)] = sent.phone
            messages.info(request, _("If this number belongs to a member, a code is on its way by SMS."))
            return redirect("portal:verify", slug=merchant.slug)
    return _render(request, merchant, "login.html", {"phone": phone})


@require_http_methods(["GET", "POST"])
@merchant_page
def verify(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """Step two: the code from the SMS."""
    phone = request.session.get(PENDING_PHONE.format(merchant=merchant.pk))
    if not phone:
        return redirect("portal:login", slug=merchant.slug)
    if request.method == "POST":
        try:
            member = services.verify_login_code(
                merchant=merchant, phone=phone, code=request.POST.get("code", "")
            )
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            sign_in(request, member)
            request.session.pop(PENDING_PHONE.format(merchant=merchant.pk), None)
            return redirect("portal:home", slug=merchant.slug)
    return _render(request, merchant, "verify.html", {"phone": phone})


@require_POST
@merchant_page
def resend(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """The code page's "Send a new code": the same request, throttle and answer as the first one."""
    phone = request.session.get(PENDING_PHONE.format(merchant=merchant.pk))
    if not phone:
        return redirect("portal:login", slug=merchant.slug)
    try:
        services.request_login_code(merchant=merchant, phone=phone)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, _("If this number belongs to a member, a new code is on its way by SMS."))
    return redirect("portal:verify", slug=merchant.slug)


@require_POST
@merchant_page
def logout(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    sign_out(request, merchant)
    return redirect("portal:login", slug=merchant.slug)


@require_http_methods(["GET", "POST"])
@merchant_page
@member_required
def password(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    """Set a password for next time; only a member signed in (by code) can."""
    if request.method == "POST":
        new, again = request.POST.get("password", ""), request.POST.get("password2", "")
        if new != again:
            messages.error(request, _("The two passwords differ."))
        else:
            try:
                services.set_member_password(member=member, password=new)
            except DomainError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Your password is set. Next time you can sign in with it."))
                return redirect("portal:home", slug=merchant.slug)
    return _render(request, merchant, "password.html", {})


# --- rewards ---------------------------------------------------------------------------------------


class Redeemed(BaseModel):
    code: str


def _reward_post(
    request: HttpRequest, merchant: Merchant, work: Callable[[], tuple[int, BaseModel]], success: str
) -> HttpResponse:
    """Run `work` once per form (the form's idempotency key): a double tap or a resent form spends once."""
    try:
        response = idempotent(request, merchant=merchant, key=request.POST.get("idempotency_key"), work=work)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        body = json.loads(response.content)
        if response.status_code == 200:
            messages.success(request, success % body)
        else:
            messages.error(request, body.get("detail", ""))
    return redirect("portal:home", slug=merchant.slug)


@require_http_methods(["GET"])
@merchant_page
@member_required
def code_qr(request: HttpRequest, merchant: Merchant, member: Member, code: str) -> HttpResponse:
    """One of the member's usable promo codes as a QR image; anyone else's code is not found."""
    image = selectors.code_qr(member, code[:64])
    if image is None:
        raise Http404
    response = HttpResponse(image, content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _confirm(request: HttpRequest, merchant: Merchant, *, points: int, reward: str) -> HttpResponse | None:
    """Points are spent only once the member said yes (issue 14): the page's dialog sends `confirmed=1`;
    without it (no JavaScript) this page asks the same question, with the same form key."""
    if request.POST.get("confirmed") == "1":
        return None
    return _render(
        request,
        merchant,
        "confirm.html",
        {
            "points": points,
            "reward": reward,
            "action": request.path,
            "idempotency_key": request.POST.get("idempotency_key", ""),
        },
    )


@require_POST
@merchant_page
@member_required
def redeem(request: HttpRequest, merchant: Merchant, member: Member, offer_id: int) -> HttpResponse:
    """Turn points into a promo code, once confirmed."""
    offer = get_object_or_404(rewards.offers_for(member), pk=offer_id)
    if asked := _confirm(request, merchant, points=offer.points_cost, reward=offer.name):
        return asked

    def work() -> tuple[int, BaseModel]:
        code = rewards_services.redeem_points_for_code(member=member, offer=offer, channel=IssuedVia.PORTAL)
        return 200, Redeemed(code=code.code)

    return _reward_post(request, merchant, work, _("Your promo code: %(code)s"))


@require_POST
@merchant_page
@member_required
def gift(request: HttpRequest, merchant: Merchant, member: Member, gift_id: int) -> HttpResponse:
    """Ask for a gift paid with points, once confirmed; the store hands it over."""
    chosen = get_object_or_404(rewards.gifts_for(member), pk=gift_id)
    if asked := _confirm(request, merchant, points=chosen.points_cost, reward=chosen.name):
        return asked

    def work() -> tuple[int, BaseModel]:
        redemption = rewards_services.request_gift(member=member, gift=chosen)
        return 200, Redeemed(code=str(redemption.pk))

    return _reward_post(
        request, merchant, work, _("Your gift request no. %(code)s is registered; collect it in store.")
    )


# --- points sent to another member (issue 15 §6) --------------------------------------------------------


class Sent(BaseModel):
    points: str
    name: str


@require_POST
@merchant_page
@member_required
def send_points(request: HttpRequest, merchant: Merchant, member: Member) -> HttpResponse:
    """Send points to another member by phone: checked, then a page names the recipient and asks,
    then sent once per form (its idempotency key)."""
    phone = request.POST.get("phone", "").strip()[:40]
    message = request.POST.get("message", "")[:200]
    points = parse_id(request.POST.get("points")) or 0
    try:
        target = services.transfer_recipient(member=member, phone=phone, points=points)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("portal:home", slug=merchant.slug)
    if request.POST.get("confirmed") != "1":
        return _render(
            request,
            merchant,
            "confirm.html",
            {
                "question": _("Send %(points)s points to %(name)s?")
                % {"points": format_points(points), "name": public_name(target)},
                "yes": _("Yes, send"),
                "action": request.path,
                "idempotency_key": request.POST.get("idempotency_key", ""),
                "fields": {"phone": phone, "points": points, "message": message},
            },
        )

    def work() -> tuple[int, BaseModel]:
        services.send_points(member=member, phone=phone, points=points, message=message)
        return 200, Sent(points=format_points(points), name=public_name(target))

    return _reward_post(request, merchant, work, _("Sent %(points)s points to %(name)s."))
