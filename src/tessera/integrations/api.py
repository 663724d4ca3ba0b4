"""The generic integration API (K1) for systems that cannot send Shopify-style webhooks.

The same guarantees as the webhooks: an order id is booked once (whatever the Idempotency-Key), a
refund id applied once, and a refund or cancellation that arrives before its order waits for it.
Orders, customers and refunds posted with one API key share one namespace of ids per merchant.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse
from ninja import Router

from tessera.core.errors import ValidationFailed
from tessera.core.idempotency import idempotent, key_header
from tessera.core.problem import ERRORS
from tessera.integrations import services
from tessera.integrations.schemas import (
    GenericCancel,
    GenericCustomer,
    GenericOrder,
    GenericRefund,
    ResultOut,
)
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.models import Scope

router = Router(tags=["integrations"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))

#: The namespace of ids posted through the API (a shop connection has its own).
API_SOURCE = "api"


def _out(result: services.Result) -> tuple[int, ResultOut]:
    return 200, ResultOut(
        outcome=result.outcome,  # type: ignore[arg-type]
        detail=result.detail,
        member_id=result.member.pk if result.member else None,
        transaction_id=result.transaction.pk if result.transaction else None,
        refund_id=result.refund.pk if result.refund else None,
    )


def _run(request: ApiRequest, key: str, work: Callable[[], services.Result]) -> HttpResponse:
    def run() -> tuple[int, ResultOut]:
        result = work()
        if result.outcome == "failed":
            raise ValidationFailed(result.detail, code=result.code or "failed")
        return _out(result)

    return idempotent(request, merchant=request.auth.merchant, key=key, work=run)


@router.post("/customers", response={200: ResultOut, **ERRORS}, summary="Sync a customer")
def sync_customer(
    request: ApiRequest, data: GenericCustomer, idempotency_key: str = key_header()
) -> HttpResponse:
    """The customer becomes a member by phone (activated or not by the merchant's setting, C2); a new
    phone for a known customer `id` opens a new account (C3). Without a phone: `skipped`."""
    ctx = request.auth
    return _run(
        request,
        idempotency_key,
        lambda: services.sync_customer(
            merchant=ctx.merchant, source=API_SOURCE, customer=data.to_customer(), store=ctx.store
        ),
    )


@router.post("/orders", response={200: ResultOut, **ERRORS}, summary="Book a paid order")
def record_order(
    request: ApiRequest, data: GenericOrder, idempotency_key: str = key_header()
) -> HttpResponse:
    """A paid order earns points like a POS sale (same rules), booked once per order `id`: sending it
    again answers `duplicate`. Each line earns on `quantity × unit_price − discount`; shipping earns
    nothing. The customer is found or registered by phone."""
    ctx = request.auth
    return _run(
        request,
        idempotency_key,
        lambda: services.record_order(
            merchant=ctx.merchant,
            source=API_SOURCE,
            store=ctx.acting_store(data.store_code),
            order=data.to_order(),
            api_key=ctx.key,
        ),
    )


@router.post(
    "/orders/{order_id}/refunds", response={200: ResultOut, **ERRORS}, summary="Refund goods of an order"
)
def record_refund(
    request: ApiRequest, order_id: str, data: GenericRefund, idempotency_key: str = key_header()
) -> HttpResponse:
    """Takes back the points of the returned lines (E9), once per refund `id`. Before the order is
    booked the refund is `deferred` and applied when the order arrives."""
    ctx = request.auth
    return _run(
        request,
        idempotency_key,
        lambda: services.record_refund(
            merchant=ctx.merchant, source=API_SOURCE, refund=data.to_refund(order_id), api_key=ctx.key
        ),
    )


@router.post("/orders/{order_id}/cancel", response={200: ResultOut, **ERRORS}, summary="Cancel an order")
def record_cancellation(
    request: ApiRequest, order_id: str, data: GenericCancel, idempotency_key: str = key_header()
) -> HttpResponse:
    """Voids the order's sale: its points are taken back (E9). Before the order: `deferred`."""
    ctx = request.auth
    return _run(
        request,
        idempotency_key,
        lambda: services.record_cancellation(
            merchant=ctx.merchant, source=API_SOURCE, cancellation=data.to_cancellation(order_id)
        ),
    )
