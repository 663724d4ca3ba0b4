"""The generic integration API (K1) for systems that cannot send Shopify-style webhooks.

The same guarantees as the webhooks: an order id is booked once (whatever the Idempotency-Key), a
refund id applied once, and a refund or cancellation that arrives before its order waits for it.
Orders, customers and refunds posted with one API key share one namespace of ids per merchant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django import forms
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Path, Router
from ninja.pagination import LimitOffsetPagination, paginate

from tessera.core.api_forms import body_example, bound_form, one_of, valid_or_refuse
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.etag import tagged
from tessera.core.idempotency import idempotent, key_header
from tessera.core.limits import MAX_SAFE_INTEGER, Id
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.integrations import services
from tessera.integrations.forms import CONNECTION_CHANGE_FIELDS, ENDPOINT_FIELDS, ConnectionForm, EndpointForm
from tessera.integrations.models import (
    EVENT_TYPES,
    Connection,
    DeliveryStatus,
    Platform,
    WebhookDelivery,
    WebhookEndpoint,
)
from tessera.integrations.schemas import (
    GenericCancel,
    GenericCustomer,
    GenericOrder,
    GenericRefund,
    ResultOut,
)
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, changes_by
from tessera.tenancy.models import Scope, Store

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


# --- management API (issue 17): shop connections and outbound webhook endpoints ----------------------

connections_router = Router(tags=["shop connections"], auth=ApiKeyAuth(Scope.ADMIN))
endpoints_router = Router(tags=["webhook endpoints"], auth=ApiKeyAuth(Scope.ADMIN))

#: A path id of a paginated operation: ninja's `paginate` reads its annotations where `Id` is unknown.
_PAGED_ID = Path(..., ge=1, le=MAX_SAFE_INTEGER)
_PAGINATED = "Paginated: `limit` (default 100) and `offset`; the answer has `items` and `count`."


class ConnectionOut(Schema):
    id: int
    name: str
    platform: Platform
    store_id: int = Field(description="The store the shop's orders are booked in.")
    is_active: bool
    hook_url: str = Field(description="Where the shop posts its signed webhooks.")
    rejected_count: int = Field(description="Forged or stale requests refused.")
    last_rejected_at: datetime | None
    created_at: datetime

    @staticmethod
    def of(request: HttpRequest, connection: Connection) -> ConnectionOut:
        return ConnectionOut(
            id=connection.pk,
            name=connection.name,
            platform=Platform(connection.platform),
            store_id=connection.store_id,
            is_active=connection.is_active,
            hook_url=request.build_absolute_uri(reverse("integrations:receive", args=[connection.token])),
            rejected_count=connection.rejected_count,
            last_rejected_at=connection.last_rejected_at,
            created_at=connection.created_at,
        )


class ConnectionCreatedOut(ConnectionOut):
    secret: str = Field(description="The signing secret: shown in this answer only, never again.")


class ConnectionIn(Schema):
    platform: Platform
    name: str
    store_id: int
    signing_secret: str = Field(
        "", description="The shop's webhook signing secret, or empty: Tessera makes one (shown once)."
    )


class ConnectionPatch(Schema):
    """Only the fields sent change; the platform and the secret never do. `is_active: false` archives."""

    name: str | None = None
    store_id: int | None = None
    is_active: bool | None = None


def _connection(request: ApiRequest, connection_id: int, *, lock: bool = False) -> Connection:
    missing = NotFound(_("No such shop connection."), code="connection_not_found")
    return one_of(Connection.objects.of(request.auth.merchant), connection_id, missing=missing, lock=lock)


def _stores_of(form: forms.BaseForm, request: ApiRequest) -> forms.BaseForm:
    form.fields["store"].queryset = Store.objects.of(request.auth.merchant)  # type: ignore[attr-defined]
    return form


@connections_router.get(
    "",
    response={200: list[ConnectionOut], **ERRORS},
    operation_id="listShopConnections",
    summary="List shop connections",
    description=_PAGINATED,
)
@paginate(LimitOffsetPagination)
def list_connections(request: ApiRequest) -> list[ConnectionOut]:
    return [ConnectionOut.of(request, c) for c in Connection.objects.of(request.auth.merchant)]


@connections_router.post(
    "",
    response={201: ConnectionCreatedOut, **ERRORS},
    operation_id="createShopConnection",
    summary="Connect a shop",
    description="The answer holds the signing `secret`, shown this once (K1). Checked as the back office's "
    "page checks it (422 `invalid_fields`).",
    openapi_extra=body_example({"platform": "shopify", "name": "Shopify online shop", "store_id": 1}),
)
def create_connection(
    request: ApiRequest, payload: ConnectionIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, ConnectionCreatedOut]:
        data = payload.model_dump(exclude={"store_id"}) | {"store": payload.store_id}
        cleaned = valid_or_refuse(_stores_of(ConnectionForm(data=data), request))
        with changes_by(request.auth.key):
            issued = services.create_connection(
                merchant=request.auth.merchant,
                platform=cleaned["platform"],
                name=cleaned["name"],
                store=cleaned["store"],
                secret=cleaned["signing_secret"],
            )
        shown = ConnectionOut.of(request, issued.obj)
        return 201, ConnectionCreatedOut(**shown.model_dump(), secret=issued.secret)

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@connections_router.get(
    "/{connection_id}",
    response={200: ConnectionOut, **ERRORS},
    operation_id="getShopConnection",
    summary="Read a shop connection",
    description="Never its secret. The answer's `ETag` is what an update sends as `If-Match`.",
)
def get_connection(request: ApiRequest, connection_id: Id, response: HttpResponse) -> ConnectionOut:
    shown = ConnectionOut.of(request, _connection(request, connection_id))
    tagged(response, shown)
    return shown


@connections_router.patch(
    "/{connection_id}",
    response={200: ConnectionOut, **CHANGE_ERRORS},
    operation_id="updateShopConnection",
    summary="Change a shop connection",
    description="Send `If-Match` with the ETag you read (412 when it changed since, 428 without it).",
    openapi_extra=body_example({"name": "Shopify (new theme)", "is_active": True}),
)
def update_connection(
    request: ApiRequest, connection_id: Id, payload: ConnectionPatch, response: HttpResponse
) -> ConnectionOut:
    sent = payload.model_dump(exclude_unset=True)
    if "store_id" in sent:
        sent["store"] = sent.pop("store_id")

    def save(connection: Connection) -> ConnectionOut:
        form_class = forms.modelform_factory(Connection, fields=CONNECTION_CHANGE_FIELDS)
        form = _stores_of(bound_form(form_class, instance=connection, changes=sent), request)
        cleaned = valid_or_refuse(form)
        changed = {k: cleaned[k] for k in CONNECTION_CHANGE_FIELDS if k in form.changed_data}
        return ConnectionOut.of(request, services.update_connection(connection=connection, **changed))

    return change_if_match(
        request,
        response,
        locked=lambda: _connection(request, connection_id, lock=True),
        shown=lambda connection: ConnectionOut.of(request, connection),
        save=save,
    )


class EndpointOut(Schema):
    id: int
    url: str
    description: str
    event_types: list[str] = Field(description="The events it receives; empty: every event.")
    is_active: bool
    created_at: datetime

    @staticmethod
    def of(endpoint: WebhookEndpoint) -> EndpointOut:
        return EndpointOut(
            id=endpoint.pk,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            is_active=endpoint.is_active,
            created_at=endpoint.created_at,
        )


class EndpointSecretOut(EndpointOut):
    secret: str = Field(description="The signing secret (`whsec_…`): shown in this answer only, never again.")


class EndpointIn(Schema):
    url: str = Field(description="https:// and a public address.")
    description: str = ""
    event_types: list[str] = Field(default_factory=list, description="Empty: every event.")
    is_active: bool = True


class EndpointPatch(Schema):
    """Only the fields sent change. `is_active: false` archives the endpoint: nothing more is sent."""

    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    is_active: bool | None = None


class DeliveryOut(Schema):
    id: int
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    last_response_code: int | None
    last_error: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]

    @staticmethod
    def of(delivery: WebhookDelivery) -> DeliveryOut:
        return DeliveryOut(
            id=delivery.pk,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            last_attempt_at=delivery.last_attempt_at,
            last_response_code=delivery.last_response_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            payload=delivery.payload,
        )


_ENDPOINT_FORM = forms.modelform_factory(WebhookEndpoint, form=EndpointForm, fields=ENDPOINT_FIELDS)


def _endpoint(request: ApiRequest, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    missing = NotFound(_("No such webhook endpoint."), code="endpoint_not_found")
    return one_of(WebhookEndpoint.objects.of(request.auth.merchant), endpoint_id, missing=missing, lock=lock)


def _with_secret(issued: services.Issued) -> tuple[int, EndpointSecretOut]:
    return 200, EndpointSecretOut(**EndpointOut.of(issued.obj).model_dump(), secret=issued.secret)


@endpoints_router.get(
    "",
    response={200: list[EndpointOut], **ERRORS},
    operation_id="listWebhookEndpoints",
    summary="List webhook endpoints",
    description=_PAGINATED,
)
@paginate(LimitOffsetPagination)
def list_endpoints(request: ApiRequest) -> list[EndpointOut]:
    return [EndpointOut.of(e) for e in WebhookEndpoint.objects.of(request.auth.merchant)]


@endpoints_router.post(
    "",
    response={201: EndpointSecretOut, **ERRORS},
    operation_id="createWebhookEndpoint",
    summary="Add a webhook endpoint",
    description="Events are POSTed to `url` signed with `Tessera-Signature` (docs/integrations.md). The "
    "answer holds the signing `secret`, shown this once. Event types: "
    + ", ".join(f"`{value}`" for value, _label in EVENT_TYPES)
    + ".",
    openapi_extra=body_example(
        {"url": "https://example.com/tessera", "description": "CRM", "event_types": ["sale.confirmed"]}
    ),
)
def create_endpoint(
    request: ApiRequest, payload: EndpointIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, EndpointSecretOut]:
        cleaned = valid_or_refuse(_ENDPOINT_FORM(data=payload.model_dump()))
        with changes_by(request.auth.key):
            issued = services.create_endpoint(
                merchant=request.auth.merchant,
                url=cleaned["url"],
                event_types=cleaned["event_types"],
                description=cleaned["description"],
            )
            if not cleaned["is_active"]:
                services.update_endpoint(endpoint=issued.obj, is_active=False)
        return 201, _with_secret(issued)[1]

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@endpoints_router.get(
    "/{endpoint_id}",
    response={200: EndpointOut, **ERRORS},
    operation_id="getWebhookEndpoint",
    summary="Read a webhook endpoint",
    description="Never its secret. The answer's `ETag` is what an update sends as `If-Match`.",
)
def get_endpoint(request: ApiRequest, endpoint_id: Id, response: HttpResponse) -> EndpointOut:
    shown = EndpointOut.of(_endpoint(request, endpoint_id))
    tagged(response, shown)
    return shown


@endpoints_router.patch(
    "/{endpoint_id}",
    response={200: EndpointOut, **CHANGE_ERRORS},
    operation_id="updateWebhookEndpoint",
    summary="Change a webhook endpoint",
    description="Send `If-Match` with the ETag you read (412 when it changed since, 428 without it).",
    openapi_extra=body_example({"event_types": ["sale.confirmed", "sale.refunded"]}),
)
def update_endpoint(
    request: ApiRequest, endpoint_id: Id, payload: EndpointPatch, response: HttpResponse
) -> EndpointOut:
    def save(endpoint: WebhookEndpoint) -> EndpointOut:
        form = bound_form(_ENDPOINT_FORM, instance=endpoint, changes=payload.model_dump(exclude_unset=True))
        cleaned = valid_or_refuse(form)
        changed = {k: cleaned[k] for k in ENDPOINT_FIELDS if k in form.changed_data}
        return EndpointOut.of(services.update_endpoint(endpoint=endpoint, **changed))

    return change_if_match(
        request,
        response,
        locked=lambda: _endpoint(request, endpoint_id, lock=True),
        shown=EndpointOut.of,
        save=save,
    )


@endpoints_router.post(
    "/{endpoint_id}/rotate-secret",
    response={200: EndpointSecretOut, **ERRORS},
    operation_id="rotateWebhookEndpointSecret",
    summary="Give the endpoint a new signing secret",
    description="The new `secret` is shown this once; the old one stops signing at once. No body.",
)
def rotate_secret(request: ApiRequest, endpoint_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, EndpointSecretOut]:
        endpoint = _endpoint(request, endpoint_id, lock=True)
        with changes_by(request.auth.key):
            return _with_secret(services.rotate_endpoint_secret(endpoint=endpoint))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@endpoints_router.post(
    "/{endpoint_id}/test",
    response={200: DeliveryOut, **ERRORS},
    operation_id="sendWebhookTest",
    summary="Send a test event",
    description=f"POSTs a signed `{services.TEST_EVENT}` event to the endpoint now and answers the "
    "delivery: `delivered`, or `retrying` with the receiver's status code or error. It stays in the "
    "delivery log. No body.",
)
def send_test(request: ApiRequest, endpoint_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    def work() -> tuple[int, DeliveryOut]:
        return 200, DeliveryOut.of(services.send_test_event(endpoint=_endpoint(request, endpoint_id)))

    return idempotent(request, merchant=request.auth.merchant, key=idempotency_key, work=work)


@endpoints_router.get(
    "/{endpoint_id}/deliveries",
    response={200: list[DeliveryOut], **ERRORS},
    operation_id="listWebhookDeliveries",
    summary="The endpoint's delivery log",
    description="Newest first, with each delivery's attempts and the receiver's last answer. " + _PAGINATED,
)
@paginate(LimitOffsetPagination)
def list_deliveries(request: ApiRequest, endpoint_id: int = _PAGED_ID) -> Any:
    return WebhookDelivery.objects.filter(endpoint=_endpoint(request, endpoint_id)).order_by(
        "-created_at", "-pk"
    )
