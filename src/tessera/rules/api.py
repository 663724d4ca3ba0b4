"""Earning rules endpoints of the public API: the simulator (E5)."""

from __future__ import annotations

from datetime import UTC

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from tessera.core.errors import NotFound, PermissionDenied, ValidationFailed
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import MAX_LINES, IsoDateTime, SaleAmount
from tessera.core.problem import ERRORS
from tessera.rules.simulator import BasketItem, simulate
from tessera.sales.schemas import CustomerIn, EarningPartOut, LineIn
from tessera.sales.selectors import find_customer
from tessera.tenancy.models import ApiKey, Store

router = Router(tags=["rules"])


class SimulateIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "0903123456",
                    "store_code": "hanoi-1",
                    "amount": 150000,
                    "at": "2026-03-02T19:30:00+07:00",
                }
            ]
        }
    )

    store_code: str | None = Field(
        None, description="Required with a merchant-wide key; a store-bound key simulates in its own store."
    )
    amount: SaleAmount | None = Field(
        None, description="Minor units that earn points; the lines' total when omitted."
    )
    lines: list[LineIn] = Field(
        default_factory=list, max_length=MAX_LINES, description="Give the invoice total and item count."
    )
    at: IsoDateTime | None = Field(None, description="When the sale happens; now when omitted.")


class SkippedOut(Schema):
    rule_id: int
    name: str
    reason: str


class SimulationOut(Schema):
    points: int
    parts: list[EarningPartOut] = Field(description="Which rule gave which part of the points, and why.")
    skipped: list[SkippedOut] = Field(description="Rules in force that did not apply, and why not.")


def _store(key: ApiKey, store_code: str | None) -> Store:
    if key.store_id is not None:
        assert key.store is not None
        if store_code and store_code != key.store.code:
            raise PermissionDenied(_("This API key acts only in its own store."), code="store_mismatch")
        return key.store
    if not store_code:
        raise ValidationFailed(
            _("Name the store: store_code is required with this key."), code="store_required"
        )
    store = Store.objects.of(key.merchant).filter(code=store_code, is_active=True).first()
    if store is None:
        raise NotFound(_("No such store."), code="store_not_found")
    return store


def _simulate(key: ApiKey, data: SimulateIn) -> tuple[int, SimulationOut]:
    if not (data.card_code or data.phone or data.member_id):
        raise ValidationFailed(_("Give a card_code, a phone or a member_id."), code="customer_required")
    customer = find_customer(
        merchant=key.merchant, code=data.card_code, phone=data.phone, member_id=data.member_id
    )
    if customer.member is None:
        raise ValidationFailed(_("This card is not given to a member yet."), code="card_not_assigned")
    lines = [
        BasketItem(
            quantity=line.quantity,
            line_amount=line.quantity * line.unit_price if line.amount is None else line.amount,
        )
        for line in data.lines
    ]
    amount = data.amount if data.amount is not None else sum(line.line_amount for line in lines)
    store = _store(key, data.store_code)
    at = data.at or timezone.now()
    if timezone.is_naive(at):
        at = at.replace(tzinfo=store.tz)  # a time without an offset is the store's local time
    try:
        at.astimezone(UTC), at.astimezone(store.tz)
    except (OverflowError, ValueError):
        raise ValidationFailed(_("This date and time cannot be used."), code="invalid_time") from None
    result = simulate(
        merchant=key.merchant,
        amount=amount,
        lines=lines or None,
        member=customer.member,
        store=store,
        at=at,
        card=customer.card,
    )
    return 200, SimulationOut(
        points=result.points,
        parts=[EarningPartOut(**part.__dict__) for part in result.parts],
        skipped=[SkippedOut(**skip.__dict__) for skip in result.skipped],
    )


@router.post(
    "/simulate", response={200: SimulationOut, **ERRORS}, summary="Points a sale would earn, and why"
)
def simulate_earning(
    request: HttpRequest, data: SimulateIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """For an amount (or basket), a member, a store and a moment: the points the earning rules give and
    which rule gave which part ("why did I get 120 points"). Changes nothing (E5)."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return idempotent(request, merchant=key.merchant, key=idempotency_key, work=lambda: _simulate(key, data))
