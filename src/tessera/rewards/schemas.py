"""Request and response shapes of the rewards API (E7, E8). Money and points are integers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from tessera.cards.customers import CustomerIn
from tessera.core.limits import Id, Quantity, SaleAmount
from tessera.core.schemas import Schema


class GiftOut(Schema):
    id: int
    name: str
    description: str
    points_cost: int
    stock: int
    per_member_limit: int | None = Field(description="How many one member may hold; null: no limit.")
    image_url: str | None


class RedemptionIn(CustomerIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "0903123456", "gift_id": 3}]})

    gift_id: Id
    quantity: Quantity = 1
    store_code: str | None = Field(None, description="Where the gift is handed over (optional).")


class RedemptionOut(Schema):
    id: int
    member_id: int
    gift_id: int
    gift_name: str
    quantity: int
    points: int = Field(description="Points spent (given back when cancelled).")
    status: Literal["requested", "fulfilled", "cancelled"]
    points_available: int = Field(description="The member's spendable points after this change.")
    created_at: datetime


class CancelIn(Schema):
    reason: str = Field("", max_length=300)


class OfferOut(Schema):
    id: int
    name: str
    points_cost: int
    value_kind: Literal["amount", "percent"]
    amount: int | None = Field(description="Minor units off, for value_kind=amount.")
    percent: Decimal | None = Field(description="Percent off, for value_kind=percent.")
    validity_days: int
    usage_limit: int
    channel: Literal["any", "pos", "online"]


class PromoCodeIn(CustomerIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "0903123456", "offer_id": 2}]})

    offer_id: Id
    channel: Literal["api", "widget", "portal"] = Field("api", description="Where the member asked.")


class PromoCodeOut(Schema):
    id: int
    code: str
    member_id: int
    value_kind: Literal["amount", "percent"]
    amount: int | None
    percent: Decimal | None
    channel: Literal["any", "pos", "online"] = Field(description="Where the code can be used.")
    valid_until: datetime
    usage_limit: int
    uses_left: int
    points: int = Field(description="Points the member paid for it.")
    status: Literal["active", "used_up", "cancelled"]
    points_available: int


class CodeCheckIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"code": "K7QM-2XPA-9R", "amount": 250000, "channel": "pos"}]}
    )

    code: str = Field(..., min_length=1, max_length=64, description="Case, spaces and dashes are ignored.")
    amount: SaleAmount = Field(..., description="The order amount, in minor units.")
    channel: Literal["pos", "online"] = "pos"


class CodeCheckOut(Schema):
    code: str
    value_kind: Literal["amount", "percent"]
    amount: int | None
    percent: Decimal | None
    valid_until: datetime
    uses_left: int
    order_amount: int
    discount: int = Field(description="What the code takes off this order, rounded down to the minor unit.")


class CodeConsumeIn(CodeCheckIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"code": "K7QM2XPA9R", "amount": 250000, "channel": "online", "order_ref": "WEB-1042"}
            ]
        }
    )

    order_ref: str = Field(
        ...,
        min_length=1,
        max_length=100,
        description="Your order number: consuming again for it is not a new use.",
    )


class CodeUseOut(Schema):
    id: int
    code: str
    order_ref: str
    order_amount: int
    discount: int
    uses_left: int
    created_at: datetime


# --- custom events (issue 15 §5) ---------------------------------------------------------------------


class EventIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"phone": "0903123456", "type": "app_installed"}]}
    )

    type: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,49}$",
        description="The event's type, as the merchant's bonus rules name it (e.g. app_installed).",
    )
    store_code: str | None = Field(None, description="Where it happened (optional).")


class EventBonusOut(Schema):
    rule_id: int
    rule: str
    member_id: int
    points: int


class EventRefusalOut(Schema):
    rule_id: int
    rule: str
    member_id: int
    code: str = Field(
        description="already_given, limit_per_day, limit_per_week, limit_per_month, limit_per_member "
        "or budget_spent."
    )


class EventOut(Schema):
    type: str
    member_id: int
    points: int = Field(description="Points the event earned in all.")
    awarded: list[EventBonusOut]
    not_awarded: list[EventRefusalOut] = Field(description="Rules for this type that gave nothing, and why.")
    points_available: int
