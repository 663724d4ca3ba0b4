"""Back-office pages in the Unfold layout: the merchant dashboard, the member 360 page and the cashier
screen for sales entered by hand (E3). Views parse, check permissions and call selectors and services;
they never write models themselves.

Scoping (A1, B2): a staff member sees their merchant only; a store-scoped one acts in their stores only.
Another merchant's member or sale is a 404. Platform operators pick a merchant on the dashboard; the
member 360 page shows them any member; the cashier screen is for a merchant's staff only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from tessera.adjustments import services as adjustments
from tessera.backoffice import selectors
from tessera.backoffice.forms import (
    BaseLineFormSet,
    BasketForm,
    ConfirmForm,
    DashboardPeriodForm,
    LineFormSet,
    LookupForm,
)
from tessera.backoffice.selectors import Scope
from tessera.cards.balances import balances_of
from tessera.cards.models import Card
from tessera.core import periods
from tessera.core.errors import DomainError, ValidationFailed
from tessera.core.idempotency import Outcome, form_fingerprint, new_form_token, submit_once
from tessera.core.limits import parse_id
from tessera.core.money import minor_digits, to_major
from tessera.core.periods import Period
from tessera.members.models import Member
from tessera.members.selectors import phone_e164
from tessera.rewards.occasions import stored_discounts
from tessera.sales import selectors as sales_selectors
from tessera.sales import services as sales
from tessera.sales.models import Channel, ConfirmMethod, SalesSettings, Transaction, TransactionStatus
from tessera.tenancy.admin_base import request_staff
from tessera.tenancy.models import Merchant, StaffMembership


def _page(request: HttpRequest, template: str, title: str, **context: Any) -> HttpResponse:
    return render(request, template, {**admin.site.each_context(request), "title": title, **context})


def _require(request: HttpRequest, *permissions: str) -> None:
    if not any(request.user.has_perm(p) for p in permissions):
        raise PermissionDenied


def _staff(request: HttpRequest) -> StaffMembership:
    staff = request_staff(request)
    if staff is None:
        raise PermissionDenied
    return staff


def _scope(request: HttpRequest, merchant_id: str | None = None) -> Scope | None:
    """The staff member's scope; for an operator, the merchant they picked (None until they pick)."""
    staff = request_staff(request)
    if staff is not None:
        return Scope.of_staff(staff)
    if not request.user.is_superuser:
        raise PermissionDenied
    if merchant_pk := parse_id(merchant_id):
        merchant = Merchant.objects.filter(pk=merchant_pk).first()
        if merchant is None:
            raise Http404
        return Scope(merchant=merchant)
    return None


# --- dashboard ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A figure against the previous period: the difference, and the percentage when there was a base."""

    value: int
    previous: int

    @property
    def delta(self) -> int:
        return self.value - self.previous

    @property
    def percent(self) -> int | None:
        """Rounded to a whole percent, half away from zero; None when the previous period had nothing."""
        if not self.previous:
            return None
        hundredfold = abs(self.delta) * 200 // abs(self.previous)
        return (1 if self.delta >= 0 else -1) * ((hundredfold + 1) // 2)


_COMPARED = (
    "members_active",
    "members_new",
    "points_issued",
    "points_spent",
    "points_expired",
    "imported_points",
    "sales_count",
    "sales_amount",
)


def dashboard_period(request: HttpRequest, scope: Scope) -> tuple[Period, DashboardPeriodForm]:
    """The period asked for in the query string: a preset, or a custom From–To; else the last 7 days."""
    today = timezone.localtime(timezone.now(), scope.merchant.tz).date()
    form = DashboardPeriodForm(request.GET or None)
    if form.is_valid():
        data = form.cleaned_data
        if data["period"] == periods.CUSTOM:
            return Period(data["start"], data["end"], periods.CUSTOM), form
        if data["period"]:
            return periods.preset_period(data["period"], today=today), form
    return periods.preset_period(periods.LAST_7_DAYS, today=today), form


def dashboard_context(request: HttpRequest, scope: Scope | None) -> dict[str, Any]:
    """What the dashboard template needs; shared by the admin index (DASHBOARD_CALLBACK) and our page."""
    user = request.user
    context: dict[str, Any] = {
        "merchants": Merchant.objects.order_by("name") if scope is None or request.user.is_superuser else [],
        "scope": scope,
    }
    if scope is None:
        return context
    period, form = dashboard_period(request, scope)
    previous_period = period.previous()
    figures = selectors.dashboard_figures(scope=scope, start=period.start, end=period.end)
    previous = selectors.dashboard_figures(scope=scope, start=previous_period.start, end=previous_period.end)
    labels = [date_format(day, "MONTH_DAY_FORMAT") for day in figures.days]
    unit = 10 ** minor_digits(figures.currency)
    keep = request.GET.copy()
    for key in ("period", "start", "end"):
        keep.pop(key, None)
    context.update(
        figures=figures,
        period=period,
        previous_period=previous_period,
        changes={name: Change(getattr(figures, name), getattr(previous, name)) for name in _COMPARED},
        period_form=form,
        presets=[
            (key, label, "?" + urlencode([*keep.items(), ("period", key)]))
            for key, label in periods.PRESETS
            if key != periods.CUSTOM
        ],
        kept_query=list(keep.items()),
        show_members=user.has_perm("members.view_member"),
        show_points=user.has_perm("ledger.view_entry"),
        show_balances=user.has_perm("ledger.view_account"),
        # The merchant's revenue is a report's figure: not for a cashier, who may see sales one by one.
        show_sales=user.has_perm("sales.view_transaction") and user.has_perm("reports.view_sales_report"),
        stores_label=", ".join(s.name for s in scope.stores()) if scope.store_ids is not None else "",
        points_chart=_json(
            {
                "labels": labels,
                "datasets": [
                    {
                        "label": _("Issued"),
                        "data": figures.issued_by_day,
                        "backgroundColor": "var(--color-primary-600)",
                    },
                    {"label": _("Spent"), "data": figures.spent_by_day, "backgroundColor": "#f59e0b"},
                    {"label": _("Expired"), "data": figures.expired_by_day, "backgroundColor": "#9ca3af"},
                ],
            }
        ),
        # Whole units of the currency: a chart needs no fen, and no float comes near money.
        sales_chart=_json(
            {
                "labels": labels,
                "datasets": [
                    {
                        "label": _("Sales (%(currency)s)") % {"currency": figures.currency},
                        "data": [amount // unit for amount in figures.sales_by_day],
                        "borderColor": "var(--color-primary-600)",
                        "displayYAxis": True,
                    }
                ],
            }
        ),
    )
    return context


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def dashboard(request: HttpRequest) -> HttpResponse:
    scope = _scope(request, request.GET.get("merchant"))
    return _page(request, "backoffice/dashboard.html", _("Dashboard"), d=dashboard_context(request, scope))


# --- member 360 ---------------------------------------------------------------------------------------

#: Detail actions of the member admin, in the order they are offered: (method, label, icon).
MEMBER_ACTIONS = [
    ("activate", "activate_page", "check_circle"),
    ("exclude", "exclude_page", "block"),
    ("reactivate", "reactivate_page", "restart_alt"),
    ("change_phone", "change_phone_page", "call"),
    ("erase", "erase_page", "delete_forever"),
]
CARD_ACTIONS = [
    ("report_lost", "report_lost", "report"),
    ("cancel_loss", "cancel_loss", "undo"),
    ("replace", "replace", "swap_horiz"),
    ("recycle", "recycle", "recycling"),
    ("sub_card", "sub_card", "add_card"),
]


def _action_labels() -> dict[str, str]:
    return {
        "activate": _("Activate"),
        "exclude": _("Exclude"),
        "reactivate": _("Re-activate"),
        "change_phone": _("Change phone"),
        "erase": _("Erase"),
        "report_lost": _("Report lost"),
        "cancel_loss": _("Cancel loss report"),
        "replace": _("Replace"),
        "recycle": _("Recycle"),
        "sub_card": _("Issue a sub-card"),
    }


def _member_actions(request: HttpRequest, member: Member) -> list[dict[str, str]]:
    """The buttons this user may use on this member, as the member admin itself decides (B1)."""
    user, labels = request.user, _action_labels()
    found: list[dict[str, str]] = []
    if member.is_current and user.has_perm("sales.add_transaction") and request_staff(request):
        url = reverse("backoffice:cashier") + "?" + urlencode({"member": member.pk})
        found.append({"label": _("New sale"), "url": url, "icon": "point_of_sale"})
    for perm, name, label, icon in (
        ("sales.add_points", "admin:sales_add_points", _("Add points"), "add_circle"),
        ("sales.deduct_points", "admin:sales_deduct_points", _("Deduct points"), "remove_circle"),
        ("sales.transfer_points", "admin:sales_transfer_points", _("Transfer points"), "swap_horiz"),
    ):
        if member.is_current and user.has_perm(perm) and request_staff(request):
            found.append({"label": label, "url": f"{reverse(name)}?member={member.pk}", "icon": icon})
    if user.has_perm("members.change_member") and member.is_current:
        url = reverse("admin:members_member_change", args=[member.pk])
        found.append({"label": _("Edit profile"), "url": url, "icon": "edit"})
    member_admin = admin.site._registry.get(Member)
    for key, method, icon in MEMBER_ACTIONS:
        allowed = getattr(member_admin, f"has_{key}_permission", None)
        if allowed is not None and allowed(request, member.pk):
            url = reverse(f"admin:members_member_{method}", args=[member.pk])
            found.append({"label": labels[key], "url": url, "icon": icon})
    if user.has_perm("members.view_member"):
        url = reverse("admin:members_member_history", args=[member.pk])
        found.append({"label": _("History"), "url": url, "icon": "history"})
    return found


def _card_actions(request: HttpRequest, card: Card) -> list[dict[str, str]]:
    """The guided card operations (D5) this user may start on this card; the card admin decides."""
    card_admin = admin.site._registry.get(Card)
    labels = _action_labels()
    found = []
    for key, method, icon in CARD_ACTIONS:
        allowed = getattr(card_admin, f"has_{key}_permission", None)
        if allowed is not None and allowed(request, card.pk):
            url = reverse(f"admin:cards_card_{method}", args=[card.pk])
            found.append({"label": labels[key], "url": url, "icon": icon})
    return found


def _member_and_scope(request: HttpRequest, pk: int) -> tuple[Scope, Member]:
    """The member `pk` as the user may see them, with the scope they are seen in (for an operator, the
    member's own merchant); 404 otherwise."""
    scope = _scope(request)
    if scope is None:  # an operator: the member's own merchant
        found = Member.objects.filter(pk=pk).select_related("merchant").first()
        if found is None:
            raise Http404
        scope = Scope(merchant=found.merchant)
    member = selectors.member_in_scope(scope=scope, pk=pk)
    if member is None:
        raise Http404
    return scope, member


def member_360(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, "members.view_member")
    scope, member = _member_and_scope(request, pk)
    page = parse_id(request.GET.get("page")) or 1
    view = selectors.member_360(scope=scope, member=member, entries_page=page)
    user = request.user
    cards = [{"card": card, "actions": _card_actions(request, card)} for card in view.cards]
    return _page(
        request,
        "backoffice/member_360.html",
        str(member),
        view=view,
        member=member,
        cards=cards,
        currency=scope.merchant.currency,
        actions=_member_actions(request, member),
        show_cards=user.has_perm("cards.view_card"),
        show_batches=user.has_perm("cards.view_cardbatch"),
        show_balances=user.has_perm("ledger.view_account"),
        show_entries=user.has_perm("ledger.view_entry"),
        show_sales=user.has_perm("sales.view_transaction"),
        phone_move_token=new_form_token() if _may_move_after_phone_change(request, member) else "",
    )


PHONE_MOVE_PERMISSION = "adjustments.add_adjustmentvoucher"


def _may_move_after_phone_change(request: HttpRequest, member: Member) -> bool:
    """C3: a replaced account's points and tier are moved by a voucher, for those who may write one."""
    return (
        bool(member.superseded_by_id)
        and not member.erased_at
        and request.user.has_perm(PHONE_MOVE_PERMISSION)
    )


def member_phone_move(request: HttpRequest, pk: int) -> HttpResponse:
    """C3: the button on a replaced account's 360 page: write the pending voucher moving its points and
    tier to the current account (`adjustments.services.phone_move_voucher`), then open it. Sent once per
    page load (a double click opens the same voucher)."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("backoffice:member_360", args=[pk]))
    _require(request, PHONE_MOVE_PERMISSION)
    scope, member = _member_and_scope(request, pk)
    here = reverse("backoffice:member_360", args=[member.pk])

    def work() -> str:
        voucher = adjustments.phone_move_voucher(old_member=member, actor=request.user)
        return reverse("admin:adjustments_adjustmentvoucher_change", args=[voucher.pk])

    outcome = _submit(request, scope.merchant, request.POST.get("form_token", ""), work)
    if outcome.error:
        messages.error(request, outcome.error)
        return HttpResponseRedirect(here)
    if not outcome.replayed:
        messages.success(request, _("Voucher written: check it, then apply it."))
    return HttpResponseRedirect(outcome.url)


# --- the cashier screen (E3) --------------------------------------------------------------------------

CASHIER_PERMISSION = "sales.add_transaction"
_SESSION_STORE = "backoffice_cashier_store"


def _sale_of(request: HttpRequest, staff: StaffMembership, pk: int) -> Transaction:
    sale = (
        Transaction.objects.visible_to(staff)
        .filter(pk=pk)
        .select_related("store", "member", "card", "merchant", "confirmed_by")
        .prefetch_related("lines")
        .first()
    )
    if sale is None:
        raise Http404
    return sale


def _fingerprint(request: HttpRequest) -> str:
    return form_fingerprint(path=request.path, fields=dict(request.POST.lists()))


def cashier(request: HttpRequest) -> HttpResponse:
    """Find the customer (scan, phone or name), then the basket, its quote, and on to confirmation."""
    _require(request, CASHIER_PERMISSION)
    staff = _staff(request)
    merchant = staff.merchant
    if request.method == "POST":
        return _basket_post(request, staff)
    if member_id := parse_id(request.GET.get("member")):
        member = _current_member(merchant, member_id)
        card = _card_of(staff, request.GET.get("card", ""), member)
        initial = {"member": member.pk, "card": card.pk if card else None, "token": new_form_token()}
        if request.session.get(_SESSION_STORE):
            initial["store"] = request.session[_SESSION_STORE]
        basket = BasketForm(initial=initial, staff=staff, merchant=merchant)
        lines = LineFormSet(form_kwargs={"currency": merchant.currency}, prefix="lines")
        return _basket_page(request, staff, member, card, basket, lines)
    lookup_form = LookupForm(request.GET if "q" in request.GET else None)
    found = None
    register_url = ""
    if lookup_form.is_valid():
        typed = lookup_form.cleaned_data["q"]
        found = selectors.lookup_at_till(merchant=merchant, query=typed)
        hit = found.member
        if hit is not None and hit.is_current:
            query = {"member": hit.pk, **({"card": found.card.pk} if found.card else {})}
            return HttpResponseRedirect(f"{reverse('backoffice:cashier')}?{urlencode(query)}")
        if hit is not None:  # a card of a replaced or erased account
            found = selectors.TillLookup()
        if not (found.stock_card or found.matches):
            register_url = _register_url(request, merchant, typed)
    return _page(
        request,
        "backoffice/cashier/lookup.html",
        _("Cashier"),
        form=lookup_form,
        found=found,
        register_url=register_url,
    )


#: On the member admin's add page: once the member is registered, go back to the till with them (issue 14).
TILL_RETURN = "_till"


def _register_url(request: HttpRequest, merchant: Merchant, typed: str) -> str:
    """Nobody found: the member registration page for those allowed to register, the phone filled in
    when what was typed is one."""
    if not request.user.has_perm("members.add_member"):
        return ""
    query = {TILL_RETURN: "1"}
    if phone_e164(merchant=merchant, phone=typed) is not None:
        query["phone"] = typed.strip()
    return f"{reverse('admin:members_member_add')}?{urlencode(query)}"


def till_after_registration(request: HttpRequest, member: Member) -> HttpResponse | None:
    """Where the member admin goes after adding `member` from the till's offer: the till, with them."""
    if request.GET.get(TILL_RETURN) != "1" or {"_addanother", "_continue"} & set(request.POST):
        return None
    if not request.user.has_perm(CASHIER_PERMISSION) or request_staff(request) is None:
        return None
    return HttpResponseRedirect(f"{reverse('backoffice:cashier')}?{urlencode({'member': member.pk})}")


def _current_member(merchant: Merchant, pk: int) -> Member:
    member = (
        Member.objects.of(merchant)
        .filter(pk=pk, superseded_by__isnull=True, erased_at__isnull=True)
        .select_related("home_store")
        .first()
    )
    if member is None:
        raise Http404
    return member


def _card_of(staff: StaffMembership, card_id: Any, member: Member) -> Card | None:
    """The customer's card. Any of the merchant's: a card issued in one store works in all (A2)."""
    card_pk = parse_id(card_id)
    if card_pk is None:
        return None
    card = Card.objects.of(staff.merchant).filter(pk=card_pk, member=member).first()
    if card is None:
        raise Http404
    return card


def _basket_page(
    request: HttpRequest,
    staff: StaffMembership,
    member: Member,
    card: Card | None,
    basket: BasketForm,
    lines: Any,
    quote: sales.SaleQuote | None = None,
    status: int = 200,
) -> HttpResponse:
    if quote is None and lines.forms:  # the cursor starts in the first product box (issue 14)
        lines.forms[0].fields["name"].widget.attrs["autofocus"] = True
    currency = staff.merchant.currency
    # The quick-pick: a recent item's name fills in its last price, in the unit the price box takes.
    recent = [
        (item, to_major(item.unit_price, currency))
        for item in selectors.recent_items(scope=Scope.of_staff(staff))
    ]
    response = _page(
        request,
        "backoffice/cashier/basket.html",
        _("Cashier"),
        member=member,
        card=card,
        balances=balances_of(member, card),
        currency=currency,
        recent_items=recent,
        basket=basket,
        lines=lines,
        quote=quote,
    )
    response.status_code = status
    return response


def _basket_post(request: HttpRequest, staff: StaffMembership) -> HttpResponse:
    merchant = staff.merchant
    basket = BasketForm(request.POST, staff=staff, merchant=merchant)
    lines = cast(
        BaseLineFormSet,
        LineFormSet(request.POST, form_kwargs={"currency": merchant.currency}, prefix="lines"),
    )
    member_id = parse_id(request.POST.get("member"))
    if member_id is None:
        raise Http404
    member = _current_member(merchant, member_id)
    card = _card_of(staff, request.POST.get("card", ""), member)
    if not (basket.is_valid() and lines.is_valid()):
        return _basket_page(request, staff, member, card, basket, lines, status=422)
    store = basket.cleaned_data["store"]
    request.session[_SESSION_STORE] = store.pk
    order = {
        "merchant": merchant,
        "store": store,
        "member": member,
        "card": card,
        "lines": lines.sale_lines(),
        "points_to_spend": basket.cleaned_data["points_to_spend"] or 0,
        "stored_value_to_spend": basket.stored_value_minor(),
    }
    if request.POST.get("action") != "create":
        try:
            quote = sales.quote_sale(**order)
        except DomainError as exc:
            basket.add_error(None, str(exc))
            return _basket_page(request, staff, member, card, basket, lines, status=422)
        return _basket_page(request, staff, member, card, basket, lines, quote=quote)

    def create() -> str:
        sale = sales.create_transaction(
            **order,
            external_ref=basket.cleaned_data["external_ref"],
            note=basket.cleaned_data["note"],
            actor=request.user,
            channel=Channel.BACK_OFFICE,
        )
        return reverse("backoffice:cashier_confirm", args=[sale.pk])

    outcome = _submit(request, merchant, basket.cleaned_data["token"], create)
    if outcome.url:
        return HttpResponseRedirect(outcome.url)
    # A refused sale can be corrected and sent again: with a new token, as a new form.
    fresh = request.POST.copy()
    fresh["token"] = new_form_token()
    basket = BasketForm(fresh, staff=staff, merchant=merchant)
    basket.is_valid()
    basket.add_error(None, outcome.error)
    return _basket_page(request, staff, member, card, basket, lines, status=422)


def _submit(request: HttpRequest, merchant: Merchant, token: str, work: Any) -> Outcome:
    try:
        return submit_once(
            merchant=merchant, token=token, path=request.path, fingerprint=_fingerprint(request), work=work
        )
    except ValidationFailed as exc:
        return Outcome(error=str(exc.message))


def cashier_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """The second step (E2): the member's PIN or texted code, or a second staff member, as the merchant
    allows. Every button posts a one-time token, so a double click confirms (or texts) once."""
    _require(request, CASHIER_PERMISSION)
    staff = _staff(request)
    sale = _sale_of(request, staff, pk)
    here = reverse("backoffice:cashier_confirm", args=[sale.pk])
    if sale.status == TransactionStatus.CONFIRMED and request.method == "GET":
        return HttpResponseRedirect(reverse("backoffice:cashier_receipt", args=[sale.pk]))
    # Only what the sale's store accepts for a sale of this amount (issue 15 §7).
    methods = sales_selectors.confirm_methods(sale, SalesSettings.for_merchant(staff.merchant))
    if request.method == "POST":
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("This form has expired; reload the page."))
            return HttpResponseRedirect(here)
        data = form.cleaned_data
        action = data["method"]
        if action not in [*methods, *(["send_otp"] if "otp" in methods else []), "void"]:
            messages.error(request, _("This merchant does not confirm sales this way."))
            return HttpResponseRedirect(here)

        def work() -> str:
            receipt = reverse("backoffice:cashier_receipt", args=[sale.pk])
            if action == "void":
                sales.void_transaction(
                    transaction=sale, actor=request.user, reason=_("Cancelled at the till")
                )
                return reverse("backoffice:cashier")
            if action == "send_otp":
                sent = sales.request_otp(transaction=sale, actor=request.user)
                messages.info(request, _("A code was sent to %(phone)s.") % {"phone": sent.phone})
                return here
            if action == ConfirmMethod.STAFF:
                second = sales.authenticate_second_staff(
                    request=request, username=data["username"], password=data["password"]
                )
                if second is None:
                    raise ValidationFailed(_("That user name and password do not match."), code="bad_login")
                sales.confirm_transaction(
                    transaction=sale, method=action, staff_user=second, actor=request.user
                )
                return receipt
            sales.confirm_transaction(
                transaction=sale, method=action, pin=data["pin"], otp=data["otp"], actor=request.user
            )
            return receipt

        outcome = _submit(request, staff.merchant, data["token"], work)
        if outcome.error:
            messages.error(request, outcome.error)
            return HttpResponseRedirect(here)
        return HttpResponseRedirect(outcome.url)
    return _page(
        request,
        "backoffice/cashier/confirm.html",
        _("Confirm the sale"),
        sale=sale,
        currency=sale.currency,
        methods=methods,
        # Called once per form by the template: every button gets its own one-time token.
        token=new_form_token,
        can_void=request.user.has_perm("sales.void_transaction"),
    )


def cashier_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, CASHIER_PERMISSION, "sales.view_transaction")
    staff = _staff(request)
    sale = _sale_of(request, staff, pk)
    # The refund page is the sale's admin page: it needs the sale's view permission too (issue 14).
    refundable = (
        sale.status == TransactionStatus.CONFIRMED
        and request.user.has_perm("sales.view_transaction")
        and sales_selectors.may_refund(request.user, staff.merchant)
    )
    return _page(
        request,
        "backoffice/cashier/receipt.html",
        _("Receipt"),
        sale=sale,
        currency=sale.currency,
        balances=balances_of(sale.member, sale.card),
        discounts=stored_discounts(sale.discount_parts or []),
        refund_url=reverse("admin:sales_transaction_refund_lines", args=[sale.pk]) if refundable else "",
    )
