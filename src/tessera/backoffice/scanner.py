"""The staff scanner page, /staff/scan/ (H1): a phone's camera (or a keyboard-wedge scanner, or a typed
number) finds the card; staff add points for an amount spent, deduct points, see the balance and what
they themselves added and deducted today.

Every write goes through `tessera.sales.services` (which checks `sales.add_points` /
`sales.deduct_points` and the store) and through `idempotent`: the page makes one key per intended
action and resends with the same key over a flaky connection, so a retry never adds twice. Staff act
in a store: their only one, else the one they picked, remembered in the session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from pydantic import BaseModel

from tessera.cards.selectors import find_card
from tessera.cards.services import ensure_usable
from tessera.core.errors import DomainError, NotFound, ValidationFailed
from tessera.core.formatting import format_points
from tessera.core.idempotency import HEADER as IDEMPOTENCY_HEADER
from tessera.core.idempotency import idempotent
from tessera.core.limits import MAX_POINTS, MAX_SALE_AMOUNT, parse_id, parse_json_int
from tessera.core.money import parse_money
from tessera.core.problem import domain_problem, problem
from tessera.ledger.models import Account, AccountKind
from tessera.ledger.selectors import account_summary, totals_for_day
from tessera.members.models import Member
from tessera.members.selectors import find_member_by_phone
from tessera.portal.branding import branding
from tessera.sales import services as sales
from tessera.tenancy.models import StaffMembership, Store

PERMISSIONS = ("sales.add_points", "sales.deduct_points")
STORE_SESSION_KEY = "scanner:store"


# --- who, where ------------------------------------------------------------------------------------


def stores_for(staff: StaffMembership) -> list[Store]:
    return list(Store.objects.visible_to(staff).filter(is_active=True).order_by("name"))


def current_store(request: HttpRequest, staff: StaffMembership) -> Store | None:
    """The store the user acts in: their only store, else the one picked (kept in the session)."""
    stores = stores_for(staff)
    if len(stores) == 1:
        return stores[0]
    picked = request.session.get(STORE_SESSION_KEY)
    return next((store for store in stores if store.pk == picked), None)


def _may_scan(request: HttpRequest) -> StaffMembership | None:
    staff: StaffMembership | None = getattr(request, "staff", None)
    if staff is None or not any(request.user.has_perm(perm) for perm in PERMISSIONS):
        return None
    return staff


def scanner_api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """JSON endpoints: signed-in staff allowed to add or deduct, acting in a store; errors as problem+json."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return problem(request, status=401, code="not_authenticated", detail=_("Sign in again."))
        staff = _may_scan(request)
        if staff is None:
            return problem(
                request, status=403, code="permission_denied", detail=_("You are not allowed to do this.")
            )
        store = current_store(request, staff)
        if store is None:
            return problem(request, status=409, code="store_required", detail=_("Choose your store first."))
        try:
            return view(request, staff, store)
        except DomainError as exc:
            return domain_problem(request, exc)

    return wrapper


# --- answers -----------------------------------------------------------------------------------------


class Today(BaseModel):
    added: int
    deducted: int


class MemberCard(BaseModel):
    member: int
    name: str
    phone_tail: str
    card: str | None
    balance: int
    spendable: int
    pending: int


class PointsResult(BaseModel):
    points: int
    balance: int
    spendable: int
    today: Today


def _today(request: HttpRequest, staff: StaffMembership) -> Today:
    merchant = staff.merchant
    day = timezone.now().astimezone(merchant.tz).date()
    totals = totals_for_day(merchant=merchant, store=None, actor=request.user, date=day)
    return Today(added=totals.added, deducted=totals.deducted)


def _balances(member: Member) -> tuple[int, int, int]:
    account = Account.objects.of(member.merchant_id).filter(member=member, kind=AccountKind.POINTS).first()
    if account is None:
        return 0, 0, 0
    summary = account_summary(account=account)
    return summary.balance, summary.spendable, summary.pending


def _member_card(member: Member, card_number: str | None) -> MemberCard:
    balance, spendable, pending = _balances(member)
    return MemberCard(
        member=member.pk,
        name=member.full_name,
        phone_tail=str(member.phone)[-3:],
        card=card_number,
        balance=balance,
        spendable=spendable,
        pending=pending,
    )


def _json(payload: BaseModel) -> HttpResponse:
    return HttpResponse(payload.model_dump_json(), content_type="application/json")


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValidationFailed(_("The request is not valid JSON."), code="invalid_json")
    return data


def _member(staff: StaffMembership, member_id: Any) -> Member:
    pk = parse_id(member_id)
    member = Member.objects.of(staff.merchant).filter(pk=pk).first() if pk else None
    if member is None or not member.is_current:
        raise NotFound(_("No such member."), code="member_not_found")
    return member


def _amount(staff: StaffMembership, raw: Any) -> int:
    """The amount spent as typed ("150.000" đồng, "35,50" yuan on a Vietnamese screen) → minor units,
    read by `core.money.parse_money` in the page's language; nothing spent is refused."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValidationFailed(_("Enter the amount spent."), code="invalid_amount")
    amount = parse_money(str(raw), staff.merchant.currency, maximum=MAX_SALE_AMOUNT)
    if amount <= 0:
        raise ValidationFailed(_("Enter the amount spent."), code="invalid_amount")
    return amount


def _points(raw: Any) -> int:
    """Points to deduct as sent; more than one operation may move (MAX_POINTS) is refused here."""
    points = parse_json_int(raw) or 0
    if points > MAX_POINTS:
        raise ValidationFailed(
            _("At most %(limit)s points can be deducted at once.") % {"limit": format_points(MAX_POINTS)},
            code="points_over_limit",
            limit=MAX_POINTS,
        )
    return points


# --- pages and endpoints -----------------------------------------------------------------------------


@login_required
def scan(request: HttpRequest) -> HttpResponse:
    staff = _may_scan(request)
    if staff is None:
        return render(request, "backoffice/scanner/denied.html", status=403)
    store = current_store(request, staff)
    merchant = staff.merchant
    return render(
        request,
        "backoffice/scanner/scan.html",
        {
            "merchant": merchant,
            "brand": branding(merchant),
            "store": store,
            "stores": stores_for(staff),
            "can_add": request.user.has_perm("sales.add_points"),
            "can_deduct": request.user.has_perm("sales.deduct_points"),
            "today": _today(request, staff),
            "currency": merchant.currency,
            "messages_json": {
                "notFound": _("No card or member found."),
                "offline": _("No connection. Retrying…"),
                "failed": _("That did not work."),
                "added": _("%(points)s points added."),
                "deducted": _("%(points)s points deducted."),
                # The page fills in the figure and the name: "Deduct 50 points from Nguyễn Văn An?"
                "deductQuestion": _("Deduct %(points)s points from %(name)s?"),
                "cancelled": _("Nothing was deducted."),
                "cameraUnavailable": _("This browser cannot scan with the camera. Type or scan the number."),
            },
        },
    )


@login_required
@require_POST
def choose_store(request: HttpRequest) -> HttpResponse:
    staff = _may_scan(request)
    if staff is not None:
        picked = request.POST.get("store", "")
        store = next((s for s in stores_for(staff) if str(s.pk) == picked), None)
        if store is not None:
            request.session[STORE_SESSION_KEY] = store.pk
    return redirect("scanner:scan")


@require_GET
@scanner_api
def lookup(request: HttpRequest, staff: StaffMembership, store: Store) -> HttpResponse:
    """A scanned or typed card number (or QR payload), else a phone number → the member and balance."""
    code = request.GET.get("q", "").strip()
    card = find_card(merchant=staff.merchant, code=code) if code else None
    if card is not None:
        ensure_usable(card)
        if card.member is None:
            raise NotFound(_("This card belongs to no member."), code="card_without_member")
        return _json(_member_card(card.member, card.number))
    member = find_member_by_phone(merchant=staff.merchant, phone=code) if code else None
    if member is None:
        raise NotFound(_("No card or member found."), code="not_found")
    return _json(_member_card(member, None))


@require_GET
@scanner_api
def today(request: HttpRequest, staff: StaffMembership, store: Store) -> HttpResponse:
    return _json(_today(request, staff))


@require_POST
@scanner_api
def add(request: HttpRequest, staff: StaffMembership, store: Store) -> HttpResponse:
    """Body {"member": id, "amount": "150000"}: points computed by the merchant's earning rules."""
    data = _body(request)

    def work() -> tuple[int, BaseModel]:
        member = _member(staff, data.get("member"))
        entry = sales.add_points(
            member=member, store=store, actor=request.user, amount_spent=_amount(staff, data.get("amount"))
        )
        return 200, _points_result(request, staff, member, entry.amount)

    return idempotent(
        request, merchant=staff.merchant, key=request.headers.get(IDEMPOTENCY_HEADER), work=work
    )


@require_POST
@scanner_api
def deduct(request: HttpRequest, staff: StaffMembership, store: Store) -> HttpResponse:
    """Body {"member": id, "points": 50, "reason": "...", "confirmed": true}.

    A deduction is confirmed before it is sent (issue 14): without `"confirmed": true` nothing is
    written and the answer (422 `confirmation_required`) asks the question the page shows, "Deduct 50
    points from Nguyễn Văn An?", so a client without the page's dialog still takes a second step.
    """
    data = _body(request)
    member, points = _member(staff, data.get("member")), _points(data.get("points"))
    if points > 0 and data.get("confirmed") is not True:
        raise ValidationFailed(
            _("Deduct %(points)s points from %(name)s?")
            % {"points": format_points(points), "name": member.full_name or str(member.phone)},
            code="confirmation_required",
        )

    def work() -> tuple[int, BaseModel]:
        entry = sales.deduct_points(
            member=member,
            points=points,
            reason=str(data.get("reason") or ""),
            store=store,
            actor=request.user,
        )
        return 200, _points_result(request, staff, member, -entry.amount)

    return idempotent(
        request, merchant=staff.merchant, key=request.headers.get(IDEMPOTENCY_HEADER), work=work
    )


def _points_result(request: HttpRequest, staff: StaffMembership, member: Member, points: int) -> PointsResult:
    balance, spendable, _pending = _balances(member)
    return PointsResult(points=points, balance=balance, spendable=spendable, today=_today(request, staff))
