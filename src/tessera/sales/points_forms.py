"""The back office's "Add points" and "Deduct points" forms (E4), and the two small JSON answers the
add-points page asks as staff type (issue 14): members matching a phone, name or card number, and the
points an amount will earn.

The member is one text field: a phone or a card number typed or scanned, or a member chosen from the
suggestions (which fill in the phone). It works without JavaScript; the script only suggests. Every
lookup starts from the staff member's merchant: another merchant's members are never found (A1).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.widgets import (
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextInputWidget,
    UnfoldBooleanWidget,
)

from tessera.cards.models import Card
from tessera.cards.selectors import find_card
from tessera.core.formatting import currency_symbol, format_points
from tessera.core.limits import MAX_POINTS, MAX_SALE_AMOUNT, occurred_on_window
from tessera.core.money import MoneyField
from tessera.members.models import Member
from tessera.members.selectors import current_members, find_member_by_phone, search_q
from tessera.sales import services
from tessera.tenancy.models import StaffMembership, Store

#: How many suggestions the member field offers.
SUGGESTIONS = 10


def find_member(*, staff: StaffMembership, text: str) -> Member | None:
    """The staff member's merchant's current member for a card number (typed or scanned) or a phone."""
    text = (text or "").strip()
    if not text:
        return None
    card = find_card(merchant=staff.merchant_id, code=text)
    if card is not None and card.member is not None and card.member.is_current:
        return card.member
    return find_member_by_phone(merchant=staff.merchant, phone=text)


def member_label(member: Member) -> str:
    """ "Nguyễn Văn An · +84903123456 · card 100234": what staff see to know they have the right person."""
    parts = [member.full_name or "", str(member.phone or "")]
    cards = getattr(member, "live_cards", None)
    if cards:
        parts.append(_("card %(number)s") % {"number": cards[0].number})
    return " · ".join(part for part in parts if part)


def suggest_members(*, staff: StaffMembership, query: str) -> list[Member]:
    """Members whose card number starts with `query`, then those whose phone or name matches it."""
    query = " ".join((query or "").split())
    if len(query) < 2:
        return []
    live = Prefetch("cards", queryset=Card.objects.filter(recycled_at__isnull=True), to_attr="live_cards")
    members: QuerySet[Member] = current_members(staff.merchant_id).prefetch_related(live)
    found: list[Member] = []
    compact = query.replace(" ", "")
    if compact.isdigit() and len(compact) >= 3:
        found = list(
            members.filter(cards__number__startswith=compact, cards__recycled_at__isnull=True)
            .distinct()
            .order_by("full_name", "pk")[:SUGGESTIONS]
        )
    if len(found) < SUGGESTIONS:
        seen = [member.pk for member in found]
        found += list(
            members.filter(search_q(query))
            .exclude(pk__in=seen)
            .order_by("full_name", "pk")[: SUGGESTIONS - len(found)]
        )
    return found


class MemberField(forms.CharField):
    """A phone or a card number, read as one of the staff member's merchant's current members."""

    def __init__(self, *, staff: StaffMembership, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("widget", UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}))
        super().__init__(**kwargs)
        self.staff = staff

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if not text:
            return None
        member = find_member(staff=self.staff, text=text)
        if member is None:
            raise forms.ValidationError(
                _("No member with this phone or card number."), code="member_not_found"
            )
        return member


class _PointsForm(forms.Form):
    store = forms.ModelChoiceField(
        queryset=Store.objects.none(), label=gettext_lazy("Store"), widget=UnfoldAdminSelectWidget
    )
    occurred_on = forms.DateField(
        label=gettext_lazy("Date"), required=False, widget=UnfoldAdminSingleDateWidget
    )

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        # Only the staff member's merchant's current members and the stores they work in (A1, B2).
        self.fields["member"] = MemberField(
            staff=staff,
            label=_("Member"),
            help_text=_("Phone or card number; type a name to choose from the suggestions."),
        )
        stores = Store.objects.visible_to(staff).filter(is_active=True)
        store_field = self.fields["store"]
        assert isinstance(store_field, forms.ModelChoiceField)
        store_field.queryset = stores
        only = list(stores[:2])
        if len(only) == 1:  # staff of one store have nothing to choose
            self.fields["store"].initial = only[0].pk
        self.order_fields(["member", "store", "occurred_on"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day, store = data.get("occurred_on"), data.get("store")
        if day is not None and store is not None:
            earliest, latest = occurred_on_window(timezone.localdate(timezone=store.tz))
            if not earliest <= day <= latest:
                self.add_error(
                    "occurred_on",
                    _("The date must be between %(earliest)s and %(latest)s.")
                    % {"earliest": date_format(earliest), "latest": date_format(latest)},
                )
        return data


class AddPointsForm(_PointsForm):
    points = forms.IntegerField(
        label=gettext_lazy("Points"),
        min_value=1,
        max_value=MAX_POINTS,
        required=False,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=gettext_lazy("Only to give points regardless of any purchase; else leave empty."),
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), max_length=300, required=False, widget=UnfoldAdminTextInputWidget
    )
    record_expired = forms.BooleanField(
        label=gettext_lazy("Record as expired"),
        required=False,
        widget=UnfoldBooleanWidget,
        help_text=gettext_lazy(
            "Points dated so far back that they have expired are refused unless this is ticked."
        ),
    )

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, staff=staff, **kwargs)
        currency = staff.merchant.currency
        # Typed as people write money ("150.000" đồng), read by core.money.parse_money (issue 14).
        self.fields["amount_spent"] = MoneyField(
            currency=currency,
            maximum=MAX_SALE_AMOUNT,
            label=_("Amount the customer spent (%(currency)s)") % {"currency": currency_symbol(currency)},
            required=False,
            widget=UnfoldAdminTextInputWidget(),
            help_text=_("The points are computed from it by the earning rules, as for a sale."),
        )
        self.order_fields(["member", "store", "occurred_on", "amount_spent", "points"])

    def preview(self) -> str:
        """What saving will add, from the fields that are valid so far: "= 15 points", or ""."""
        data = getattr(self, "cleaned_data", {})
        if data.get("points"):
            return points_text(data["points"])
        amount = data.get("amount_spent")
        if not amount:
            return ""
        quote = services.quote_add_points(
            member=data.get("member"),
            store=data.get("store"),
            amount_spent=amount,
            occurred_on=data.get("occurred_on"),
            merchant=self.staff.merchant,
        )
        return points_text(quote.points)


class DeductPointsForm(_PointsForm):
    points = forms.IntegerField(
        label=gettext_lazy("Points"), min_value=1, max_value=MAX_POINTS, widget=UnfoldAdminIntegerFieldWidget
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300, widget=UnfoldAdminTextInputWidget)


class TransferPointsForm(forms.Form):
    """Points moved from one member to another (issue 15); `token` makes it act once
    (`core.idempotency.submit_once`)."""

    store = forms.ModelChoiceField(
        queryset=Store.objects.none(), label=gettext_lazy("Store"), widget=UnfoldAdminSelectWidget
    )
    points = forms.IntegerField(
        label=gettext_lazy("Points"), min_value=1, max_value=MAX_POINTS, widget=UnfoldAdminIntegerFieldWidget
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300, widget=UnfoldAdminTextInputWidget)
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, staff: StaffMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        hint = _("Phone or card number; type a name to choose from the suggestions.")
        self.fields["source"] = MemberField(staff=staff, label=_("From member"), help_text=hint)
        self.fields["target"] = MemberField(staff=staff, label=_("To member"), help_text=hint)
        stores = Store.objects.visible_to(staff).filter(is_active=True)
        store_field = self.fields["store"]
        assert isinstance(store_field, forms.ModelChoiceField)
        store_field.queryset = stores
        only = list(stores[:2])
        if len(only) == 1:
            self.fields["store"].initial = only[0].pk
        self.order_fields(["source", "target", "store", "points", "reason", "token"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source, target = data.get("source"), data.get("target")
        if source is not None and target is not None and source.pk == target.pk:
            self.add_error("target", _("Points cannot be moved to the same member."))
        return data


def points_text(points: int) -> str:
    return "= " + ngettext("%(points)s point", "%(points)s points", points) % {
        "points": format_points(points)
    }


def initial_for(request: HttpRequest, staff: StaffMembership) -> dict[str, Any]:
    """`?member=<id>` (from the member's page) fills in that member's phone."""
    initial: dict[str, Any] = {"occurred_on": timezone.localdate()}
    pk = request.GET.get("member", "")
    member = current_members(staff.merchant_id).filter(pk=pk).first() if pk.isdigit() else None
    if member is not None and member.phone:
        initial["member"] = str(member.phone)
    return initial


def member_suggestions(request: HttpRequest, staff: StaffMembership) -> HttpResponse:
    """GET ?q= → {"results": [{"value": "+84903123456", "label": "Nguyễn Văn An · …"}]}."""
    found = suggest_members(staff=staff, query=request.GET.get("q", "")[:64])
    results = [{"value": str(m.phone), "label": member_label(m)} for m in found if m.phone]
    return JsonResponse({"results": results})


def points_preview(request: HttpRequest, staff: StaffMembership) -> HttpResponse:
    """GET with the form's fields → {"points": "= 15 points", "member": "Nguyễn Văn An · …"}: what
    saving would add, computed by the earning rules exactly as `add_points` will."""
    form = AddPointsForm(request.GET, staff=staff)
    form.is_valid()
    member = form.cleaned_data.get("member")
    return JsonResponse(
        {
            "points": form.preview(),
            "member": member_label(member) if member is not None else "",
            "errors": {name: [str(e) for e in errors] for name, errors in form.errors.items()},
        }
    )
