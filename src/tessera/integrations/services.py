"""Every write of the integrations app: shop webhooks in (K1), signed webhooks out (K2).

Inbound. A request to /hooks/<token>/ is checked before anything is read: its HMAC-SHA256 signature
(base64, over the raw body, with the connection's secret) and, when the platform stamps one, its age
(at most `MAX_AGE`). A forged or stale request is counted on the connection and answered 401; its body
is not kept. An accepted request is stored as an `InboundDelivery` and processed at once:

- a customer with a phone becomes a member (active or not, by the merchant's C2 setting); a new phone
  for a known shop customer is a phone change (C3: a new account); customers without a phone, and
  updates older than the last one seen, are skipped;
- a paid order becomes a confirmed sale in the connection's store through the POS services, earning
  by the same rules; the shop's order id is the key: a re-delivery, or `orders/create` and
  `orders/paid` of one order, books it once (`ExternalOrder`, unique per shop);
- a cancellation voids the sale, a refund reverses it line by line (E9), each once;
- a refund or cancellation that arrives before its order is kept on the order (`deferred`) and applied
  right after the order is booked (out-of-order delivery).

A business error (a member not active, an unknown line) is recorded as `failed` and answered 200: the
shop retrying would not help; staff replay the delivery from the back office once the cause is fixed.
An unexpected error is recorded and answered 500, so the shop retries.

Outbound. A receiver of `core.events.event_recorded` records a `WebhookDelivery` per active endpoint
that wants the event, in the writer's own transaction (an outbox), and enqueues a huey task after
commit. Each attempt claims the delivery with one conditional UPDATE, so the task, its retries and the
periodic sweep never send one twice at once.
A failed attempt is retried after 1, 5, 30 minutes, 2 and 6 hours (`BACKOFF`), then given up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tessera.core import outbound
from tessera.core.errors import DomainError, NotFound, ValidationFailed
from tessera.core.signing import signature_header
from tessera.integrations import payloads
from tessera.integrations.models import (
    Connection,
    DeliveryStatus,
    ExternalCustomer,
    ExternalOrder,
    InboundDelivery,
    Outcome,
    Platform,
    WebhookDelivery,
    WebhookEndpoint,
)
from tessera.integrations.payloads import ShopCancellation, ShopCustomer, ShopOrder, ShopRefund
from tessera.integrations.schemas import GenericCancel, GenericCustomer, GenericOrder, GenericRefund
from tessera.members import services as members
from tessera.members.models import Member
from tessera.sales import services as sales
from tessera.sales.models import Channel, ConfirmMethod, Refund, Transaction, TransactionStatus
from tessera.tenancy import config
from tessera.tenancy.models import ApiKey, Merchant, Store
from tessera.tenancy.permissions import authorise

logger = logging.getLogger(__name__)

#: A signed request older than this is refused (replay protection). Shopify keeps the original trigger
#: time on its retries and retries for 48 hours, so a shorter window would turn a retry after our
#: error into a lost order. Replaying within the window is harmless: every effect is keyed by the
#: shop's delivery and order id, and customer updates older than the last one applied are skipped.
MAX_AGE = timedelta(hours=48)
#: Clocks drift, but a request stamped this far in the future is not a retry: refuse it.
MAX_SKEW = timedelta(minutes=5)
#: Delay before each retry of an outbound delivery; one attempt more than delays.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
#: How long an attempt holds its claim on a delivery; after it the sweep may try again.
CLAIM = timedelta(minutes=2)
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "Tessera-Signature"
#: Headers of each platform: (signature, topic, webhook id, triggered at).
HEADERS: dict[str, tuple[str, str, str, str]] = {
    Platform.SHOPIFY: (
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Topic",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Triggered-At",
    ),
    Platform.HARAVAN: (
        "X-Haravan-Hmacsha256",
        "X-Haravan-Topic",
        "X-Haravan-Webhook-Id",
        "X-Haravan-Triggered-At",
    ),
    Platform.SAPO: ("X-Sapo-Hmac-Sha256", "X-Sapo-Topic", "X-Sapo-Webhook-Id", "X-Sapo-Triggered-At"),
    Platform.GENERIC: (
        "X-Tessera-Hmac-Sha256",
        "X-Tessera-Topic",
        "X-Tessera-Webhook-Id",
        "X-Tessera-Triggered-At",
    ),
}
#: Shopify and the generic format always stamp the time; Haravan and Sapo may not (checked when present).
TIMESTAMP_REQUIRED = {Platform.SHOPIFY, Platform.GENERIC}


class Rejected(DomainError):
    code = "invalid_signature"
    status = 401


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""
    code: str = ""
    member: Member | None = None
    transaction: Transaction | None = None
    refund: Refund | None = None


@dataclass(frozen=True)
class Issued:
    """A connection or endpoint just created, with its secret: shown once, never again."""

    obj: Any
    secret: str


# --- connections --------------------------------------------------------------------------------------


@transaction.atomic
def create_connection(
    *, merchant: Merchant, platform: str, name: str, store: Store, secret: str = "", actor: Any = None
) -> Issued:
    """A shop connection. `secret` is the shop's signing secret when the shop sets it (Shopify, Haravan
    and Sapo show theirs in the shop's notification settings); left empty, Tessera makes one."""
    authorise(actor, "integrations.add_connection", merchant=merchant)
    if store.merchant_id != merchant.pk:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    if platform not in Platform.values:
        raise ValidationFailed(_("Unknown platform."), code="invalid_platform")
    secret = secret.strip() or secrets.token_urlsafe(32)
    connection = Connection(merchant=merchant, platform=platform, name=name, store=store, secret=secret)
    connection.stamp(actor)
    connection.save()
    return Issued(connection, secret)


@transaction.atomic
def update_connection(*, connection: Connection, actor: Any = None, **fields: Any) -> Connection:
    """Rename, move to another store, (de)activate. The secret and platform do not change."""
    authorise(actor, "integrations.change_connection", merchant=connection.merchant_id)
    unknown = set(fields) - {"name", "store", "is_active"}
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be changed."), code="unknown_field", fields=sorted(unknown)
        )
    store = fields.get("store")
    if store is not None and store.merchant_id != connection.merchant_id:
        raise ValidationFailed(_("The store belongs to another merchant."), code="cross_merchant")
    for name, value in fields.items():
        setattr(connection, name, value)
    connection.stamp(actor)
    connection.save()
    return connection


# --- receiving ----------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    return str(headers.get(name) or headers.get(name.lower()) or "").strip()


def shop_signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, raw body)): how Shopify-style platforms sign."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _reject(connection: Connection, now: datetime, reason: str) -> Rejected:
    Connection.objects.filter(pk=connection.pk).update(
        rejected_count=F("rejected_count") + 1, last_rejected_at=now
    )
    logger.warning("Rejected webhook for connection %s: %s", connection.pk, reason)
    return Rejected(_("The request's signature is missing, wrong or too old."))


def verify(connection: Connection, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """Raise Rejected (and count it) unless the request is signed with the secret and fresh."""
    signature_name, _topic, _id, time_name = HEADERS[connection.platform]
    signature = _header(headers, signature_name)
    if not signature or not hmac.compare_digest(signature, shop_signature(connection.secret, body)):
        raise _reject(connection, now, "signature")
    stamp = _header(headers, time_name)
    if not stamp and connection.platform not in TIMESTAMP_REQUIRED:
        return
    triggered = payloads.parse_time(stamp)
    if triggered is None or now - triggered > MAX_AGE or triggered - now > MAX_SKEW:
        raise _reject(connection, now, "stale")


def receive(
    *, token: str, body: bytes, headers: Mapping[str, str], now: datetime | None = None
) -> InboundDelivery:
    """Verify, store and process one webhook request. Raises NotFound or Rejected (nothing changed)."""
    now = now or timezone.now()
    connection = (
        Connection.objects.select_related("merchant", "store")
        .filter(token=token, is_active=True, merchant__is_active=True)
        .first()
    )
    if connection is None:
        raise NotFound(_("Not found."), code="not_found")
    verify(connection, body, headers, now)
    _signature, topic_name, id_name, time_name = HEADERS[connection.platform]
    webhook_id = _header(headers, id_name)[:100]
    delivery = InboundDelivery(
        merchant_id=connection.merchant_id,
        connection=connection,
        topic=_header(headers, topic_name)[:60],
        webhook_id=webhook_id,
        received_at=now,
        headers={k: _header(headers, k) for k in (topic_name, id_name, time_name) if _header(headers, k)},
        body=body.decode("utf-8", errors="replace"),
        outcome=Outcome.FAILED,
    )
    seen = (
        webhook_id
        and InboundDelivery.objects.filter(connection=connection, webhook_id=webhook_id)
        .exclude(outcome=Outcome.FAILED)
        .exists()
    )
    if seen:
        delivery.outcome = Outcome.DUPLICATE
        delivery.error = str(_("This webhook was already received."))
        delivery.save()
        return delivery
    delivery.save()
    return process(delivery)


def replay(*, delivery: InboundDelivery, actor: Any = None) -> InboundDelivery:
    """Process a failed delivery again (its signature was checked when it arrived)."""
    authorise(actor, "integrations.replay_inbounddelivery", merchant=delivery.merchant_id)
    if delivery.outcome != Outcome.FAILED:
        raise ValidationFailed(_("Only failed deliveries can be replayed."), code="not_failed")
    InboundDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    delivery.attempts += 1
    return process(delivery)


def process(delivery: InboundDelivery) -> InboundDelivery:
    """Apply a stored delivery; record its outcome. Unexpected errors are recorded, then raised."""
    connection = delivery.connection
    try:
        with transaction.atomic():
            result = _dispatch(connection, delivery)
    except DomainError as exc:
        result = Result(Outcome.FAILED, str(exc.message), code=exc.code)
    except Exception as exc:
        _record(delivery, Result(Outcome.FAILED, f"{type(exc).__name__}: {exc}", code="internal_error"))
        raise
    _record(delivery, result)
    return delivery


def _record(delivery: InboundDelivery, result: Result) -> None:
    delivery.outcome = result.outcome
    delivery.error = result.detail
    delivery.error_code = result.code
    delivery.member = result.member or (result.transaction.member if result.transaction else delivery.member)
    delivery.transaction = result.transaction or delivery.transaction
    delivery.refund = result.refund or delivery.refund
    delivery.save()


def _json(delivery: InboundDelivery) -> dict[str, Any]:
    try:
        data = json.loads(delivery.body)
    except ValueError:
        raise payloads.invalid("JSON") from None
    if not isinstance(data, dict):
        raise payloads.invalid("JSON object")
    return data


def _dispatch(connection: Connection, delivery: InboundDelivery) -> Result:
    data = _json(delivery)
    topic = delivery.topic
    merchant, source, store = connection.merchant, connection.source, connection.store
    generic = connection.platform == Platform.GENERIC
    if topic in payloads.CUSTOMER_TOPICS:
        customer = (
            _generic(GenericCustomer, data).to_customer() if generic else payloads.customer_from_shop(data)
        )
        delivery.object_id = customer.external_id
        return sync_customer(merchant=merchant, source=source, customer=customer, store=store)
    if topic in payloads.ORDER_TOPICS:
        if generic:
            order = _generic(GenericOrder, data).to_order()
        else:
            order = payloads.order_from_shop(data, topic=topic, currency=merchant.currency)
        delivery.object_id = delivery.order_ref = order.external_id
        return record_order(merchant=merchant, source=source, store=store, order=order, delivery=delivery)
    if topic == payloads.REFUND_TOPIC:
        if generic:
            refund = _generic(GenericRefund, data).to_refund(str(data.get("order_id") or ""))
        else:
            refund = payloads.refund_from_shop(data)
        delivery.object_id, delivery.order_ref = refund.external_id, refund.order_id
        return record_refund(merchant=merchant, source=source, refund=refund, delivery=delivery)
    if topic == payloads.CANCEL_TOPIC:
        if generic:
            cancellation = _generic(GenericCancel, data).to_cancellation(str(data.get("id") or ""))
        else:
            cancellation = payloads.cancellation_from_shop(data)
        delivery.object_id = delivery.order_ref = cancellation.order_id
        return record_cancellation(
            merchant=merchant, source=source, cancellation=cancellation, delivery=delivery
        )
    return Result(Outcome.SKIPPED, str(_("Topic “%(topic)s” is not used by Tessera.") % {"topic": topic}))


def _generic(schema: Any, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError as PydanticError

    try:
        return schema.model_validate(data)
    except PydanticError as exc:
        raise payloads.invalid(str(exc.errors()[0].get("loc", ""))) from None


# --- customers ----------------------------------------------------------------------------------------


def _current(member: Member) -> Member:
    """The account a phone change (C3) made out of `member`, or `member` itself."""
    while member.superseded_by_id is not None:
        member = Member.objects.get(pk=member.superseded_by_id)
    return member


def _clean_email(email: str) -> str:
    try:
        validate_email(email)
    except ValidationError:
        return ""
    return email


def _profile(member: Member | None, customer: ShopCustomer) -> dict[str, Any]:
    """The profile fields the shop has and the member does not have that way."""
    wanted = {"full_name": customer.full_name, "email": _clean_email(customer.email)}
    return {k: v for k, v in wanted.items() if v and (member is None or getattr(member, k) != v)}


def sync_customer(
    *, merchant: Merchant, source: str, customer: ShopCustomer, store: Store | None = None, actor: Any = None
) -> Result:
    """K1: the shop's customer as a member, by phone; a changed phone opens a new account (C3)."""
    if not customer.phone:
        return Result(Outcome.SKIPPED, str(_("The customer has no phone number.")))
    phone = members.normalise_phone(customer.phone, merchant=merchant)
    link = None
    if customer.external_id:
        link = (
            ExternalCustomer.objects.select_for_update()
            .select_related("member")
            .filter(merchant=merchant, source=source, external_id=customer.external_id)
            .first()
        )
    if link is not None:
        if link.remote_updated_at and customer.updated_at and customer.updated_at < link.remote_updated_at:
            return Result(
                Outcome.SKIPPED, str(_("An older update than one already applied.")), member=link.member
            )
        member = _current(link.member)
        if member.erased_at is not None:
            return Result(Outcome.SKIPPED, str(_("This member's data has been erased.")))
        if str(member.phone) != phone:
            member = members.change_phone(member=member, new_phone=phone, actor=actor)
        changes = _profile(member, customer)
        if changes:
            members.update_member_profile(member=member, actor=actor, **changes)
        link.member = member
        link.remote_updated_at = customer.updated_at or link.remote_updated_at
        link.save(update_fields=["member", "remote_updated_at", "updated_at"])
        return Result(Outcome.PROCESSED, member=member)
    member = _member_by_phone(merchant, phone) or members.register_member(
        merchant=merchant, phone=phone, actor=actor, store=store, **_profile(None, customer)
    )
    if customer.external_id:
        ExternalCustomer.objects.create(
            merchant=merchant,
            source=source,
            external_id=customer.external_id,
            member=member,
            remote_updated_at=customer.updated_at,
        )
    return Result(Outcome.PROCESSED, member=member)


def _member_by_phone(merchant: Merchant, phone: str) -> Member | None:
    found: Member | None = (
        Member.objects.of(merchant)
        .filter(phone=phone, superseded_by__isnull=True, erased_at__isnull=True)
        .first()
    )
    return found


def _buyer(merchant: Merchant, source: str, customer: ShopCustomer | None, store: Store) -> Member | None:
    """The member an order is booked to: the linked shop customer, else by phone (registered if new)."""
    if customer is None:
        return None
    if customer.external_id:
        link = ExternalCustomer.objects.filter(
            merchant=merchant, source=source, external_id=customer.external_id
        ).first()
        if link is not None:
            return _current(link.member)
    if not customer.phone:
        return None
    result = sync_customer(merchant=merchant, source=source, customer=customer, store=store)
    return result.member


# --- orders, refunds, cancellations -------------------------------------------------------------------


def _order_row(merchant: Merchant, source: str, external_id: str) -> ExternalOrder:
    """The order's row, locked: every delivery about one order waits for the one before it."""
    row, _created = ExternalOrder.objects.select_for_update().get_or_create(
        merchant=merchant, source=source, external_id=external_id
    )
    return row


def record_order(
    *,
    merchant: Merchant,
    source: str,
    store: Store,
    order: ShopOrder,
    api_key: ApiKey | None = None,
    delivery: InboundDelivery | None = None,
) -> Result:
    """Book a paid order as a confirmed sale, once per shop order id; then apply what waited for it."""
    if not order.paid:
        return Result(Outcome.SKIPPED, str(_("The order is not paid yet.")))
    if order.currency != merchant.currency:
        raise ValidationFailed(
            _("The order is in %(currency)s, the merchant works in %(merchant)s.")
            % {"currency": order.currency, "merchant": merchant.currency},
            code="currency_mismatch",
        )
    row = _order_row(merchant, source, order.external_id)
    if row.transaction_id is not None:
        return Result(Outcome.DUPLICATE, str(_("This order is already booked.")), transaction=row.transaction)
    if not order.lines:
        return Result(Outcome.SKIPPED, str(_("The order has no goods.")))
    member = _buyer(merchant, source, order.customer, store)
    if member is None:
        return Result(Outcome.SKIPPED, str(_("The customer has no phone number.")))
    try:
        members.ensure_can_transact(member)
    except DomainError as exc:
        # Failed, but the member registered for it stays: staff activate them, then replay (C2).
        return Result(Outcome.FAILED, str(exc.message), code=exc.code, member=member)
    sale = sales.create_transaction(
        merchant=merchant,
        store=store,
        member=member,
        lines=[
            sales.SaleLine(
                name=line.name,
                sku=line.sku,
                category=line.category,
                labels=line.labels,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for line in order.lines
        ],
        external_ref=order.external_id,
        note=str(_("Online order %(name)s") % {"name": order.name or order.external_id}),
        api_key=api_key,
        channel=Channel.INTEGRATION,
        occurred_at=order.occurred_at,
    )
    sales.confirm_transaction(transaction=sale, method=ConfirmMethod.EXTERNAL)
    line_ids = list(sale.lines.order_by("position").values_list("pk", flat=True))
    row.transaction = sale
    row.lines = {
        line.external_id: pk for line, pk in zip(order.lines, line_ids, strict=True) if line.external_id
    }
    row.save(update_fields=["transaction", "lines", "updated_at"])
    _apply_waiting(row, api_key=api_key)
    sale.refresh_from_db()
    return Result(Outcome.PROCESSED, transaction=sale, member=member)


def _apply_waiting(row: ExternalOrder, *, api_key: ApiKey | None) -> None:
    """Refunds and cancellations that arrived before the order, in the order they arrived."""
    waiting, row.waiting = row.waiting, []
    row.save(update_fields=["waiting", "updated_at"])
    for item in waiting:
        delivery = InboundDelivery.objects.filter(pk=item.get("delivery")).first()
        try:
            with transaction.atomic():
                if item["kind"] == "refund":
                    refund = ShopRefund(
                        **{**item["refund"], "lines": [tuple(pair) for pair in item["refund"]["lines"]]}
                    )
                    result = _refund(row, refund, api_key=api_key)
                else:
                    result = _cancel(row, ShopCancellation(**item["cancellation"]))
        except DomainError as exc:
            result = Result(Outcome.FAILED, str(exc.message), code=exc.code)
        if delivery is not None:
            _record(delivery, result)


def _wait(row: ExternalOrder, kind: str, value: Any, delivery: InboundDelivery | None) -> Result:
    row.waiting = [
        *row.waiting,
        {"kind": kind, kind: asdict(value), "delivery": delivery.pk if delivery else None},
    ]
    row.save(update_fields=["waiting", "updated_at"])
    return Result(
        Outcome.DEFERRED, str(_("The order has not arrived yet; this will be applied when it does."))
    )


def record_refund(
    *,
    merchant: Merchant,
    source: str,
    refund: ShopRefund,
    api_key: ApiKey | None = None,
    delivery: InboundDelivery | None = None,
) -> Result:
    """E9 by line, once per shop refund id; before its order it waits for it."""
    row = _order_row(merchant, source, refund.order_id)
    if row.transaction_id is None:
        if any(
            item["kind"] == "refund" and item["refund"]["external_id"] == refund.external_id
            for item in row.waiting
        ):
            return Result(Outcome.DUPLICATE, str(_("This refund is already waiting for its order.")))
        return _wait(row, "refund", refund, delivery)
    return _refund(row, refund, api_key=api_key)


def _refund(row: ExternalOrder, refund: ShopRefund, *, api_key: ApiKey | None) -> Result:
    sale = row.transaction
    assert sale is not None
    if refund.external_id in row.applied_refunds:
        return Result(Outcome.DUPLICATE, str(_("This refund is already applied.")), transaction=sale)
    lines: dict[int, int] = {}
    for line_id, quantity in refund.lines:
        if line_id in row.lines:
            lines[row.lines[line_id]] = lines.get(row.lines[line_id], 0) + quantity
    if not lines:
        return Result(
            Outcome.SKIPPED,
            str(_("No goods returned (shipping or amount only): no points change.")),
            transaction=sale,
        )
    done = sales.refund_transaction(
        transaction=sale,
        lines=lines,
        api_key=api_key,
        reason=refund.reason,
    )
    row.applied_refunds = [*row.applied_refunds, refund.external_id]
    row.save(update_fields=["applied_refunds", "updated_at"])
    return Result(Outcome.PROCESSED, transaction=sale, refund=done)


def record_cancellation(
    *,
    merchant: Merchant,
    source: str,
    cancellation: ShopCancellation,
    delivery: InboundDelivery | None = None,
) -> Result:
    """Void the order's sale (E9), once; before its order it waits for it."""
    row = _order_row(merchant, source, cancellation.order_id)
    if row.transaction_id is None:
        if any(item["kind"] == "cancellation" for item in row.waiting):
            return Result(Outcome.DUPLICATE, str(_("This cancellation is already waiting for its order.")))
        return _wait(row, "cancellation", cancellation, delivery)
    return _cancel(row, cancellation)


def _cancel(row: ExternalOrder, cancellation: ShopCancellation) -> Result:
    sale = row.transaction
    assert sale is not None
    if sale.status == TransactionStatus.VOIDED:
        return Result(Outcome.DUPLICATE, str(_("This order is already cancelled.")), transaction=sale)
    sales.void_transaction(transaction=sale, reason=cancellation.reason)
    sale.refresh_from_db()
    return Result(Outcome.PROCESSED, transaction=sale)


# --- outbound webhooks (K2) ---------------------------------------------------------------------------


def _check_url(url: str) -> None:
    """https, and not an address of our own network (`core.outbound`): refused when saved, and again
    at every delivery."""
    outbound.validate_url(url)


def _event_types(event_types: list[str] | None) -> list[str]:
    return sorted({t.strip() for t in event_types or [] if t.strip()})


@transaction.atomic
def create_endpoint(
    *,
    merchant: Merchant,
    url: str,
    event_types: list[str] | None = None,
    description: str = "",
    actor: Any = None,
) -> Issued:
    authorise(actor, "integrations.add_webhookendpoint", merchant=merchant)
    _check_url(url)
    secret = _endpoint_secret()
    endpoint = WebhookEndpoint(
        merchant=merchant,
        url=url,
        event_types=_event_types(event_types),
        description=description,
        secret=secret,
    )
    endpoint.stamp(actor)
    endpoint.save()
    return Issued(endpoint, secret)


@transaction.atomic
def update_endpoint(*, endpoint: WebhookEndpoint, actor: Any = None, **fields: Any) -> WebhookEndpoint:
    authorise(actor, "integrations.change_webhookendpoint", merchant=endpoint.merchant_id)
    unknown = set(fields) - {"url", "event_types", "description", "is_active"}
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be changed."), code="unknown_field", fields=sorted(unknown)
        )
    if "url" in fields:
        _check_url(fields["url"])
    if "event_types" in fields:
        fields["event_types"] = _event_types(fields["event_types"])
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.stamp(actor)
    endpoint.save()
    return endpoint


def _endpoint_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


@transaction.atomic
def rotate_endpoint_secret(*, endpoint: WebhookEndpoint, actor: Any = None) -> Issued:
    """A new signing secret, shown once; the old one stops at once (deliveries still waiting are signed
    with the new one), so the receiver is given the new secret first and then sees this rotation."""
    authorise(actor, "integrations.change_webhookendpoint", merchant=endpoint.merchant_id)
    secret = _endpoint_secret()
    endpoint.secret = secret
    endpoint.stamp(actor)
    endpoint.save(update_fields=["secret", "updated_by", "updated_at"])
    return Issued(endpoint, secret)


#: The event of a test delivery: sent to one endpoint on request, whatever event types it chose.
TEST_EVENT = "webhook.test"


def send_test_event(
    *, endpoint: WebhookEndpoint, actor: Any = None, now: datetime | None = None
) -> WebhookDelivery:
    """Send `webhook.test` to this endpoint now, signed like every event, and answer how it went. It is
    kept in the delivery log like any other delivery (and retried like one if it failed)."""
    authorise(actor, "integrations.change_webhookendpoint", merchant=endpoint.merchant_id)
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.create(
        merchant_id=endpoint.merchant_id,
        endpoint=endpoint,
        event_type=TEST_EVENT,
        payload={"endpoint_id": endpoint.pk, "test": True},
        next_attempt_at=now,
    )
    return attempt(delivery_id=delivery.pk, now=now) or delivery


def active_endpoints(merchant_id: int) -> list[WebhookEndpoint]:
    """The merchant's active endpoints, from the configuration cache (`tenancy.config`)."""
    return config.cached(
        merchant_id,
        "integrations.endpoints",
        lambda: list(WebhookEndpoint.objects.of(merchant_id).filter(is_active=True)),
    )


def record_event(
    *, merchant_id: int, type: str, payload: dict[str, Any], now: datetime | None = None
) -> list[WebhookDelivery]:
    """One pending delivery per active endpoint of the merchant that wants this event type."""
    endpoints = [e for e in active_endpoints(merchant_id) if e.wants(type)]
    if not endpoints:
        return []  # most events of most merchants: no INSERT to prepare (issue 16: 12,000 per review)
    now = now or timezone.now()
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            merchant_id=merchant_id, endpoint=e, event_type=type, payload=payload, next_attempt_at=now
        )
        for e in endpoints
    )


def _claim(delivery_id: int, now: datetime) -> bool:
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id,
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
            next_attempt_at__lte=now,
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + CLAIM, last_attempt_at=now)
    )


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(
        {
            "id": str(delivery.event_id),
            "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(),
            "merchant_id": delivery.merchant_id,
            "data": delivery.payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the event through the outbound guard; (status code, error). Never raises for network
    trouble. A redirect is a failed attempt: it is not followed (it could lead where we refuse to go)."""
    body = body_of(delivery)
    try:
        answer = outbound.post(
            delivery.endpoint.url,
            body=body,
            timeout=TIMEOUT_SECONDS,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Tessera-Webhooks/1",
                "Tessera-Event": delivery.event_type,
                "Tessera-Delivery": str(delivery.event_id),
                SIGNATURE_HEADER: signature_header(delivery.endpoint.secret, body, int(time.time())),
            },
        )
    except outbound.OutboundError as exc:
        return None, exc.detail
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"HTTP {answer.status}"


def attempt(
    *, delivery_id: int, now: datetime | None = None, schedule: Callable[[int, int], None] | None = None
) -> WebhookDelivery | None:
    """Try one delivery if it is due and nobody else is trying it; schedule the retry if it fails.

    `schedule(delivery_id, delay_seconds)` enqueues the next try (the huey task passes its own)."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    code, error = _post(delivery)
    delivery.last_response_code = code
    delivery.last_error = error
    if code is not None and 200 <= code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delay = BACKOFF[delivery.attempts - 1]
        delivery.status, delivery.next_attempt_at = DeliveryStatus.RETRYING, now + delay
        if schedule is not None:
            schedule(delivery.pk, int(delay.total_seconds()))
    delivery.save(
        update_fields=[
            "status",
            "delivered_at",
            "next_attempt_at",
            "last_response_code",
            "last_error",
            "updated_at",
        ]
    )
    return delivery


def due_deliveries(now: datetime) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


def deliver_due(*, now: datetime | None = None) -> int:
    """The sweep: try every delivery whose time has come (a lost queue message is never a lost event)."""
    now = now or timezone.now()
    return sum(1 for pk in due_deliveries(now) if attempt(delivery_id=pk, now=now) is not None)


def resend(*, delivery: WebhookDelivery, actor: Any = None, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery again now, with a fresh set of attempts (back office)."""
    authorise(actor, "integrations.resend_webhookdelivery", merchant=delivery.merchant_id)
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, delivered_at=None
    )
    delivery.refresh_from_db()
    return delivery
