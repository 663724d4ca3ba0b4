"""Earning rules endpoints of the public API: the simulator (E5)."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from tessera.cards.customers import CustomerIn, identify_cardholder
from tessera.core.errors import ValidationFailed
from tessera.core.idempotency import ignored_key_header
from tessera.core.limits import MAX_LINES, IsoDateTime, SaleAmount
from tessera.core.problem import ERRORS
from tessera.rules.schemas import EarningPartOut, LineIn, LinePartOut, LinePointsOut
from tessera.rules.simulator import BasketItem, simulate
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["rules"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


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
        default_factory=list,
        max_length=MAX_LINES,
        description="Give the invoice total, the item count and the lines product rules count.",
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
    lines: list[LinePointsOut] = Field(
        description="Each line's points and the parts they came from (empty without lines)."
    )


def _simulate(ctx: ApiContext, data: SimulateIn) -> SimulationOut:
    customer = identify_cardholder(merchant=ctx.merchant, given=data)
    lines = [
        BasketItem(
            quantity=line.quantity,
            line_amount=line.total,
            sku=line.sku,
            category=line.category,
            labels=line.labels,
        )
        for line in data.lines
    ]
    amount = data.amount if data.amount is not None else sum(line.line_amount for line in lines)
    store = ctx.acting_store(data.store_code)
    at = data.at or timezone.now()
    if timezone.is_naive(at):
        at = at.replace(tzinfo=store.tz)  # a time without an offset is the store's local time
    try:
        at.astimezone(UTC), at.astimezone(store.tz)
    except (OverflowError, ValueError):
        raise ValidationFailed(_("This date and time cannot be used."), code="invalid_time") from None
    result = simulate(
        merchant=ctx.merchant,
        amount=amount,
        lines=lines or None,
        member=customer.member,
        store=store,
        at=at,
        card=customer.card,
    )
    return SimulationOut(
        points=result.points,
        parts=[EarningPartOut(**part.__dict__) for part in result.parts],
        skipped=[SkippedOut(**skip.__dict__) for skip in result.skipped],
        lines=[
            LinePointsOut(
                position=line.position,
                sku=line.sku,
                points=line.points,
                parts=[LinePartOut(name=str(name), points=points) for name, points in line.parts],
            )
            for line in result.lines
        ],
    )


@router.post(
    "/simulate", response={200: SimulationOut, **ERRORS}, summary="Points a sale would earn, and why"
)
def simulate_earning(
    request: ApiRequest, data: SimulateIn, idempotency_key: str | None = ignored_key_header()
) -> SimulationOut:
    """For an amount (or basket), a member, a store and a moment: the points the earning rules give and
    which rule gave which part ("why did I get 120 points"). Changes nothing (E5)."""
    return _simulate(request.auth, data)
