"""Request and response shapes of the point-of-sale API (K3). Money and points are integers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field, StrictBool, model_validator

from tessera.cards.customers import CustomerIn
from tessera.core.limits import (
    MAX_DAYS_AHEAD,
    MAX_DAYS_BACK,
    MAX_LINES,
    MAX_SALE_AMOUNT,
    Amount,
    Id,
    IsoDate,
    Points,
    PositivePoints,
    Quantity,
    SaleAmount,
)
from tessera.core.schemas import Schema
from tessera.rules.schemas import DiscountOut, EarningPartOut, LineIn


class MemberSummary(Schema):
    id: int
    name: str
    phone: str | None
    status: str = Field(description="not_activated, active or excluded (C2).")
    preferences: str = Field(description="Preferences and special needs to show the cashier (C1).")


class CardSummary(Schema):
    id: int
    number: str
    type: str
    status: str


class BalancesOut(Schema):
    points: int = Field(description="Every point held, pending ones included.")
    points_available: int = Field(description="Points that can be spent now.")
    points_pending: int = Field(description="Points still in their return window.")
    points_held: int = Field(description="Points reserved by pending sales.")
    stored_value: int | None = Field(description="Stored value in minor units; null without an account.")
    stored_value_available: int | None


class LookupOut(Schema):
    member: MemberSummary | None = Field(description="Null for a stock card not yet given to anyone.")
    card: CardSummary | None
    balances: BalancesOut | None


class SaleIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "card_code": "TSR1:8800000000017",
                    "store_code": "hanoi-1",
                    "lines": [
                        {"sku": "PHO-BO", "name": "Phở bò", "quantity": 2, "unit_price": 65000},
                        {"sku": "TRA-DA", "name": "Trà đá", "quantity": 2, "unit_price": 5000},
                    ],
                    "points_to_spend": 100,
                    "external_ref": "HD-2026-000123",
                }
            ]
        }
    )

    store_code: str | None = Field(
        None, description="Required with a merchant-wide key; a store-bound key acts in its own store."
    )
    lines: list[LineIn] = Field(..., min_length=1, max_length=MAX_LINES)
    points_to_spend: Points = 0
    stored_value_to_spend: SaleAmount = Field(0, description="Minor units.")

    @model_validator(mode="after")
    def _sale_total_within_limit(self) -> SaleIn:
        if sum(line.total for line in self.lines) > MAX_SALE_AMOUNT:
            raise ValueError(f"the lines must not total more than the sale limit of {MAX_SALE_AMOUNT:,}")
        return self


class TransactionIn(SaleIn):
    external_ref: str = Field("", max_length=100, description="The POS invoice number; unique per store.")
    note: str = Field("", max_length=1000)


class BenefitOut(Schema):
    code: str
    label: str


class QuoteOut(Schema):
    currency: str
    total_amount: int
    tier: str | None
    discount_percent: Decimal = Field(description="The tier discount's percent, when it applies.")
    discount_amount: int = Field(description="The sum of `discounts`.")
    discounts: list[DiscountOut] = Field(
        description="The tier discount and at most one occasion discount, as their stacking says."
    )
    amount_due: int
    benefits: list[BenefitOut]
    points_to_earn: int
    earn_explanation: str
    points_balance: int
    points_available: int
    points_pending: int
    stored_value_available: int
    point_value: Decimal = Field(description="Minor units one point is worth when spent.")
    points_to_spend: int
    points_spend_value: int = Field(
        description="What points_to_spend pay: points × point_value, rounded down to the minor unit."
    )
    stored_value_to_spend: int
    amount_to_pay: int = Field(description="What is left to pay in cash or by card.")
    points_max_to_spend: int = Field(
        description="The most points that can pay this basket: spendable points, and no more than "
        "floor((amount_due - stored_value_to_spend) / point_value)."
    )
    earning: list[EarningPartOut] = Field(description="Which rule gave which part of points_to_earn.")
    line_points: list[int] = Field(
        description="Each line's share of points_to_earn, in the order of the lines (issue 15 §4)."
    )


class LineOut(Schema):
    id: int
    sku: str
    category: str
    labels: dict[str, str]
    name: str
    quantity: int
    unit_price: int
    amount: int
    points: int | None = Field(
        description="The sale's earned points allocated to this line: what refunding it takes back "
        "(null for sales made before lines kept their points)."
    )
    refunded_quantity: int


class RefundLineOut(Schema):
    line_id: int
    quantity: int
    amount: int
    points_reversed: int | None = Field(
        description="The line's earned points this refund took back (null: a share of the sale's)."
    )


class RefundOut(Schema):
    id: int
    transaction_id: int
    store_code: str
    amount: int
    points_reversed: int
    points_shortfall: int
    points_returned: int
    stored_value_returned: int
    completes_return: bool
    lines: list[RefundLineOut]
    created_at: datetime


class TransactionOut(Schema):
    id: int
    status: Literal["pending", "confirmed", "voided"]
    store_code: str
    member_id: int
    card_id: int | None
    currency: str
    total_amount: int
    discount_amount: int
    discounts: list[DiscountOut]
    amount_due: int
    points_earned: int = Field(description="Earned on confirmation (credited then, pending for the window).")
    earn_explanation: str
    points_to_spend: int
    stored_value_to_spend: int
    external_ref: str
    confirm_method: str
    confirm_methods: list[str] = Field(
        description="While pending: the methods that may confirm this sale in its store, for its amount "
        "(`none` when it needs no verification). Empty once confirmed or voided."
    )
    confirmed_at: datetime | None
    locked: bool = Field(description="True after too many wrong PINs or codes: void and start again.")
    occurred_at: datetime
    lines: list[LineOut]
    refunds: list[RefundOut]


class ConfirmIn(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"method": "pin", "pin": "2468"}]})

    method: Literal["pin", "otp", "staff", "none"]
    pin: str | None = None
    otp: str | None = Field(None, description="The 6-digit code texted by POST /transactions/{id}/otp.")
    staff_username: str | None = Field(None, description="For method=staff: a second staff member.")
    staff_password: str | None = None


class OtpOut(Schema):
    sent_to: str = Field(description="The member's phone, masked.")
    expires_at: datetime


class VoidIn(Schema):
    reason: str = Field("", max_length=300)


class RefundLineIn(Schema):
    line_id: Id
    quantity: Quantity


class RefundIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lines": [{"line_id": 12, "quantity": 1}], "reason": "Cold soup"}]}
    )

    lines: list[RefundLineIn] | None = Field(
        None, max_length=MAX_LINES, description="Omit to return everything left."
    )
    store_code: str | None = Field(
        None, description="Where the goods come back; the sale's store by default."
    )
    reason: str = Field("", max_length=300)


OCCURRED_ON = (
    f"The day it happened, in the store's time zone: at most {MAX_DAYS_BACK} days back and "
    f"{MAX_DAYS_AHEAD} ahead (422 `occurred_on_out_of_range`); today when omitted."
)


class PointsAddIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"phone": "0903123456", "amount_spent": 250000, "note": "Paper bill"}]
        }
    )

    store_code: str | None = None
    amount_spent: SaleAmount = Field(0, description="Minor units; points are computed from it when omitted.")
    points: PositivePoints | None = None
    note: str = Field("", max_length=300)
    occurred_on: IsoDate | None = Field(None, description=OCCURRED_ON)
    record_expired: StrictBool = Field(
        False,
        description="Points dated so far back that they have already expired are refused (422 "
        "`points_already_expired`); true records them as earned and expired: they stay in the member's "
        "history and are never available.",
    )


class PointsDeductIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"phone": "0903123456", "points": 50, "reason": "Duplicate entry"}]}
    )

    store_code: str | None = None
    points: PositivePoints
    reason: str = Field(..., min_length=1, max_length=300)
    occurred_on: IsoDate | None = Field(None, description=OCCURRED_ON)


class PointsTransferIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": {"phone": "0903123456"},
                    "to": {"member_id": 42},
                    "points": 200,
                    "reason": "Family account merged",
                }
            ]
        }
    )

    source: CustomerIn = Field(..., alias="from", description="The member whose points move.")
    target: CustomerIn = Field(..., alias="to", description="The member who receives them.")
    store_code: str | None = None
    points: PositivePoints
    reason: str = Field(..., min_length=1, max_length=300)


class PointsOut(Schema):
    entry_id: int
    member_id: int
    points: int = Field(description="Positive when added, negative when deducted.")
    points_balance: int
    points_available: int
    occurred_at: datetime


class PointsTransferOut(Schema):
    points: int
    source: PointsOut = Field(description="The giving member's entry and balances after the move.")
    target: PointsOut = Field(description="The receiving member's entry and balances after the move.")


class TopUpIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "card_code": "9704000000012",
                    "amount": 1000000,
                    "payment_method": "cash",
                    "invoice": "NT-0042",
                }
            ]
        }
    )

    card_code: str = Field(..., description="The stored-value card's number or QR payload.")
    amount: Amount = Field(..., gt=0, description="Money paid in, in minor units.")
    payment_method: str = Field(
        ...,
        description="cash, bank_card, bank_transfer, e_wallet or other. Never stored value "
        "(422 `stored_value_payment`).",
    )
    invoice: str = Field("", max_length=100, description="The POS receipt number; unique per store.")
    store_code: str | None = Field(
        None, description="Required with a merchant-wide key; a store-bound key acts in its own store."
    )
    note: str = Field("", max_length=300)


class TopUpOut(Schema):
    id: int
    card_id: int
    card_number: str
    store_code: str
    currency: str
    amount: int
    payment_method: str
    invoice: str
    bonus_value: int = Field(description="Extra value loaded by the bonus rule, in minor units.")
    bonus_points: int = Field(description="Points given to the member by the bonus rule.")
    stored_value_balance: int = Field(description="The card's stored value after the top-up.")
    created_at: datetime


class TipReversalIn(Schema):
    transaction_id: Id = Field(..., description="The confirmed sale that charged the tip to the card.")
    amount: Amount = Field(..., gt=0, description="Minor units given back to the card.")
    reason: str = Field("", max_length=300)


class CardRefundIn(Schema):
    card_code: str
    amount: Amount = Field(..., gt=0, description="Minor units credited to the card.")
    transaction_id: Id | None = Field(
        None, description="The sale refunded; at most what it was paid with other than stored value."
    )
    store_code: str | None = None
    reason: str = Field("", max_length=300)


class StoredValueEntryOut(Schema):
    entry_id: int
    amount: int = Field(description="Minor units added to the card.")
    stored_value_balance: int
    occurred_at: datetime
