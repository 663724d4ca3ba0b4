"""The Tessera format for systems that are not Shopify-like: the generic API and generic connections.

Amounts are integers in the currency's minor unit, like everywhere in the API.
"""

from __future__ import annotations

from typing import Literal

from ninja import Field
from pydantic import ConfigDict, model_validator

from tessera.core.limits import (
    MAX_LINE_AMOUNT,
    MAX_LINES,
    MAX_SALE_AMOUNT,
    Amount,
    Category,
    IsoDateTime,
    Labels,
    Quantity,
)
from tessera.core.schemas import Schema
from tessera.integrations.payloads import ShopCancellation, ShopCustomer, ShopLine, ShopOrder, ShopRefund


class GenericCustomer(Schema):
    id: str = Field("", max_length=100, description="The system's own customer id.")
    phone: str = Field("", max_length=40, examples=["0903123456"])
    full_name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    updated_at: IsoDateTime | None = Field(
        None, description="Older updates than the last one seen are skipped."
    )

    def to_customer(self) -> ShopCustomer:
        return ShopCustomer(
            external_id=self.id,
            phone=self.phone,
            full_name=self.full_name,
            email=self.email,
            updated_at=self.updated_at,
        )


class GenericLine(Schema):
    id: str = Field(..., min_length=1, max_length=100, description="The line's id, used by refunds.")
    sku: str = Field("", max_length=64)
    category: Category = Field("", description="Product rules may count lines by it (issue 15 §4).")
    labels: Labels = Field(default_factory=dict, description="key → value, at most 20; as on a sale line.")
    name: str = Field(..., min_length=1, max_length=200)
    quantity: Quantity
    unit_price: Amount
    discount: Amount = Field(0, description="Discounts allocated to this line (line and order discounts).")

    @model_validator(mode="after")
    def _line_total_within_limit(self) -> GenericLine:
        if self.quantity * self.unit_price > MAX_LINE_AMOUNT:
            raise ValueError(f"quantity × unit_price must not exceed the line limit of {MAX_LINE_AMOUNT:,}")
        return self


class GenericOrder(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ORD-2026-0042",
                    "name": "#1042",
                    "store_code": "online",
                    "currency": "VND",
                    "customer": {"id": "C-77", "phone": "0903123456", "full_name": "Nguyễn Văn An"},
                    "lines": [
                        {
                            "id": "L1",
                            "sku": "CF-01",
                            "name": "Cà phê sữa đá",
                            "quantity": 2,
                            "unit_price": 45000,
                        },
                        {"id": "L2", "name": "Bánh mì", "quantity": 1, "unit_price": 30000, "discount": 5000},
                    ],
                    "shipping": 20000,
                    "occurred_at": "2026-03-01T09:30:00+07:00",
                }
            ]
        }
    )

    id: str = Field(
        ..., min_length=1, max_length=100, description="The order id: the same id is booked once."
    )
    name: str = Field("", max_length=100, description="The order number people see.")
    store_code: str | None = Field(None, description="Required with a merchant-wide API key.")
    currency: str = Field(..., min_length=3, max_length=3)
    customer: GenericCustomer
    lines: list[GenericLine] = Field(..., min_length=1, max_length=MAX_LINES)
    shipping: Amount = Field(0, description="Shipping earns no points; recorded nowhere.")
    occurred_at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _order_total_within_limit(self) -> GenericOrder:
        if sum(line.quantity * line.unit_price for line in self.lines) > MAX_SALE_AMOUNT:
            raise ValueError(f"the lines must not total more than the sale limit of {MAX_SALE_AMOUNT:,}")
        return self

    def to_order(self) -> ShopOrder:
        return ShopOrder(
            external_id=self.id,
            name=self.name,
            currency=self.currency,
            paid=True,
            customer=self.customer.to_customer(),
            occurred_at=self.occurred_at,
            lines=[
                ShopLine(
                    external_id=line.id,
                    sku=line.sku,
                    category=line.category,
                    labels=dict(line.labels),
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=max(line.unit_price * line.quantity - line.discount, 0),
                )
                for line in self.lines
            ],
        )


class GenericRefundLine(Schema):
    line_id: str = Field(..., min_length=1, max_length=100)
    quantity: Quantity


class GenericRefund(Schema):
    id: str = Field(
        ..., min_length=1, max_length=100, description="The refund id: the same id is applied once."
    )
    lines: list[GenericRefundLine] = Field(..., min_length=1, max_length=MAX_LINES)
    reason: str = Field("", max_length=300)

    def to_refund(self, order_id: str) -> ShopRefund:
        return ShopRefund(
            external_id=self.id,
            order_id=order_id,
            lines=[(line.line_id, line.quantity) for line in self.lines],
            reason=self.reason,
        )


class GenericCancel(Schema):
    reason: str = Field("", max_length=300)

    def to_cancellation(self, order_id: str) -> ShopCancellation:
        return ShopCancellation(order_id=order_id, reason=self.reason)


class ResultOut(Schema):
    outcome: Literal["processed", "duplicate", "skipped", "deferred", "failed"] = Field(
        description="processed; duplicate (already done: nothing changed); skipped (nothing to do, e.g. no "
        "phone); deferred (a refund or cancellation of an order not seen yet: applied when it arrives)."
    )
    detail: str = ""
    member_id: int | None = None
    transaction_id: int | None = None
    refund_id: int | None = None
