"""What a shop sends, read into Tessera's own terms (K1).

Shopify, Haravan and Sapo send the same shapes (Haravan and Sapo copied Shopify's API): a customer
with `id`, `phone`, names and `updated_at`; an order with `line_items` (price as a decimal string or
number in the shop's currency, `discount_allocations`), `shipping_lines`, `financial_status`; a refund
with `order_id` and `refund_line_items` (`line_item_id`, `quantity`). Other systems post the Tessera
format (schemas.py), read by `GenericOrder.to_order()` and its siblings.

Points are earned on what the customer paid for the goods: each line's price × quantity less the
discounts allocated to it (line and order discounts alike). Shipping, taxes charged on top and tips
earn nothing. A line's `product_type` is its category and its `vendor` and `properties` its labels,
which product rules count (issue 15 §4); properties whose name starts with "_" are the shop's own.

Numbers are held to the API's documented limits (core.limits): a price or discount over MAX_AMOUNT, a
quantity over MAX_QUANTITY, a line over MAX_LINE_AMOUNT, an order over MAX_SALE_AMOUNT or MAX_LINES,
a negative or non-numeric value make the whole payload `invalid_payload`: recorded, nothing written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

from tessera.core.errors import ValidationFailed
from tessera.core.limits import (
    MAX_AMOUNT,
    MAX_LINE_AMOUNT,
    MAX_LINES,
    MAX_QUANTITY,
    MAX_SALE_AMOUNT,
    bounded_labels,
    bounded_text,
    parse_ascii_int,
)
from tessera.core.money import to_minor

CUSTOMER_TOPICS = ("customers/create", "customers/update")
ORDER_TOPICS = ("orders/paid", "orders/create")
CANCEL_TOPIC = "orders/cancelled"
REFUND_TOPIC = "refunds/create"
PAID_STATUSES = ("paid", "partially_refunded", "refunded")


@dataclass(frozen=True)
class ShopCustomer:
    external_id: str
    phone: str
    full_name: str = ""
    email: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ShopLine:
    external_id: str
    name: str
    quantity: int
    unit_price: int
    amount: int
    sku: str = ""
    category: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShopOrder:
    external_id: str
    name: str
    currency: str
    paid: bool
    lines: list[ShopLine]
    customer: ShopCustomer | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class ShopRefund:
    external_id: str
    order_id: str
    #: (shop line id, quantity returned)
    lines: list[tuple[str, int]] = field(default_factory=list)
    reason: str = ""


@dataclass(frozen=True)
class ShopCancellation:
    order_id: str
    reason: str = ""


def invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(
        _("The shop sent data Tessera cannot read: %(detail)s") % {"detail": detail}, code="invalid_payload"
    )


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 as shops send it, including 'Z' and nanoseconds (Shopify's X-Shopify-Triggered-At)."""
    if not value:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value).strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: Any, currency: str, what: str) -> int:
    """A price or discount in the shop's currency, as minor units from 0 to MAX_AMOUNT."""
    if isinstance(value, bool):
        raise invalid(what)
    try:
        amount = Decimal(str(value if value not in (None, "") else 0))
        if not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:  # bounds before scaling a huge exponent
            raise invalid(what)
        minor = to_minor(amount, currency)
    except (InvalidOperation, KeyError):
        raise invalid(what) from None
    if minor > MAX_AMOUNT:
        raise invalid(what)
    return minor


def _quantity(value: Any, what: str) -> int:
    """A whole number of units from 0 to MAX_QUANTITY: JSON integers or ASCII digits, never booleans."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise invalid(what)
    if isinstance(value, int):
        quantity: int | None = value
    elif isinstance(value, float) and value.is_integer():
        quantity = int(value)
    else:
        quantity = parse_ascii_int(value) if isinstance(value, str) else None
    if quantity is None or not 0 <= quantity <= MAX_QUANTITY:
        raise invalid(what)
    return quantity


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _customer(data: dict[str, Any], fallback_phone: str = "") -> ShopCustomer:
    address = data.get("default_address") or {}
    phone = _text(data.get("phone")) or _text(address.get("phone")) or fallback_phone
    name = " ".join(p for p in (_text(data.get("first_name")), _text(data.get("last_name"))) if p)
    return ShopCustomer(
        external_id=_text(data.get("id")),
        phone=phone,
        full_name=name[:200],
        email=_text(data.get("email")),
        updated_at=parse_time(data.get("updated_at")),
    )


def customer_from_shop(data: dict[str, Any]) -> ShopCustomer:
    if not data.get("id"):
        raise invalid("customer id")
    return _customer(data)


def _labels(item: dict[str, Any]) -> dict[str, str]:
    """A line item's labels for the earning rules (issue 15 §4): its `vendor` as `vendor`, and its
    `properties` (`[{"name": …, "value": …}]`) by name; held to the API's bounds, not refused."""
    pairs: list[tuple[Any, Any]] = []
    if _text(item.get("vendor")):
        pairs.append(("vendor", _text(item.get("vendor"))))
    properties = item.get("properties")
    if isinstance(properties, list):
        pairs += [(p.get("name", ""), p.get("value", "")) for p in properties if isinstance(p, dict)]
    return bounded_labels((key, value) for key, value in pairs if not str(key).startswith("_"))


def order_from_shop(data: dict[str, Any], *, topic: str, currency: str) -> ShopOrder:
    if not data.get("id"):
        raise invalid("order id")
    order_currency = _text(data.get("currency")) or currency
    lines: list[ShopLine] = []
    items = data.get("line_items") or []
    if not isinstance(items, list) or len(items) > MAX_LINES:
        raise invalid("line items")
    for item in items:
        if not isinstance(item, dict):
            raise invalid("line item")
        quantity = _quantity(item.get("quantity"), "line quantity")
        if quantity <= 0:
            continue
        unit_price = _money(item.get("price"), order_currency, "line price")
        allocations = item.get("discount_allocations")
        if allocations:
            if not isinstance(allocations, list) or not all(isinstance(a, dict) for a in allocations):
                raise invalid("discount")
            discount = sum(_money(a.get("amount"), order_currency, "discount") for a in allocations)
        else:
            discount = _money(item.get("total_discount"), order_currency, "discount")
        if unit_price * quantity > MAX_LINE_AMOUNT:
            raise invalid("line total")
        lines.append(
            ShopLine(
                external_id=_text(item.get("id")),
                sku=_text(item.get("sku"))[:64],
                category=bounded_text(_text(item.get("product_type"))),
                labels=_labels(item),
                name=(_text(item.get("name")) or _text(item.get("title")) or "?")[:200],
                quantity=quantity,
                unit_price=unit_price,
                amount=max(unit_price * quantity - discount, 0),
            )
        )
    if sum(line.amount for line in lines) > MAX_SALE_AMOUNT:
        raise invalid("order total")
    phone = _text(data.get("phone")) or _text((data.get("billing_address") or {}).get("phone"))
    customer = data.get("customer")
    return ShopOrder(
        external_id=_text(data["id"]),
        name=_text(data.get("name")) or _text(data.get("order_number")),
        currency=order_currency,
        paid=topic == "orders/paid" or _text(data.get("financial_status")) in PAID_STATUSES,
        lines=lines,
        customer=_customer(customer, phone) if customer else (ShopCustomer("", phone) if phone else None),
        occurred_at=parse_time(data.get("processed_at") or data.get("created_at")),
    )


def refund_from_shop(data: dict[str, Any]) -> ShopRefund:
    if not data.get("id") or not data.get("order_id"):
        raise invalid("refund id or order id")
    items = data.get("refund_line_items") or []
    if not isinstance(items, list) or len(items) > MAX_LINES or not all(isinstance(i, dict) for i in items):
        raise invalid("refund line items")
    returned = [
        (_text(item.get("line_item_id")), _quantity(item.get("quantity"), "quantity")) for item in items
    ]
    return ShopRefund(
        external_id=_text(data["id"]),
        order_id=_text(data["order_id"]),
        lines=[(line_id, quantity) for line_id, quantity in returned if quantity > 0],
        reason=_text(data.get("note"))[:300],
    )


def cancellation_from_shop(data: dict[str, Any]) -> ShopCancellation:
    if not data.get("id"):
        raise invalid("order id")
    return ShopCancellation(order_id=_text(data["id"]), reason=_text(data.get("cancel_reason"))[:300])
