"""Shapes the earning rules read and explain, shared with the sales API above them: a sale line, one
part of the points a sale earns (E5), one part of its discount (issue 15 §3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from tessera.core.limits import (
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    MAX_LINE_AMOUNT,
    Amount,
    Category,
    Labels,
    LineAmount,
    Quantity,
)
from tessera.core.schemas import Schema


class LineIn(Schema):
    sku: str = Field("", max_length=64, examples=["PHO-BO"])
    category: Category = Field(
        "", description=f"At most {MAX_LABEL_LENGTH} characters; earning rules may count lines by it."
    )
    labels: Labels = Field(
        default_factory=dict,
        description=f"key → value, at most {MAX_LABELS} labels, keys 1–{MAX_LABEL_LENGTH} and values "
        f"0–{MAX_LABEL_LENGTH} characters; earning rules may count or multiply lines by a label.",
        examples=[{"brand": "loreal", "season": "tet"}],
    )
    name: str = Field(..., min_length=1, max_length=200, examples=["Phở bò"])
    quantity: Quantity = Field(..., examples=[2])
    unit_price: Amount = Field(..., description="Minor units.", examples=[65000])
    amount: LineAmount | None = Field(
        None,
        description="Line total after line discounts; quantity × unit price when omitted. "
        f"At most {MAX_LINE_AMOUNT:,} either way.",
    )

    @model_validator(mode="after")
    def _line_total_within_limit(self) -> LineIn:
        if self.amount is None and self.quantity * self.unit_price > MAX_LINE_AMOUNT:
            raise ValueError(f"quantity × unit_price must not exceed the line limit of {MAX_LINE_AMOUNT:,}")
        return self

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price if self.amount is None else self.amount


class EarningPartOut(Schema):
    """One part of the points to earn: the earning rule (version) that gave it, and why (E5)."""

    rule_id: int | None = Field(description="Null for the flat rate and the tier multiplier.")
    version_id: int | None = Field(description="The rule version a sale records.")
    name: str
    points: int
    explanation: str

    @field_validator("name", "explanation", mode="before")
    @classmethod
    def _worded(cls, value: object) -> str:
        """A `rules.explain.Why` is worded here, in the request's language."""
        return str(value)


class LinePartOut(Schema):
    name: str
    points: int


class LinePointsOut(Schema):
    """What one line of the basket earns, and from which parts (issue 15 §4)."""

    position: int = Field(description="The line's place in the basket, from 0.")
    sku: str
    points: int
    parts: list[LinePartOut]


class DiscountOut(Schema):
    """One part of `discount_amount`: the tier discount or an occasion's (issue 15 §3)."""

    name: str = Field(description="The tier's or the occasion discount's name.")
    occasion_id: int | None = Field(description="Null for the tier discount.")
    percent: Decimal
    amount: int
    explanation: str


class OccasionSeenOut(Schema):
    """An active occasion discount and what it does to the simulated sale (issue 15 §3)."""

    occasion_id: int
    name: str
    kind: str = Field(description="`birthday`, `anniversary`, `date_range` or `weekday`.")
    period: str = Field(description="Birthday and anniversary: `day`, `week` or `month` around it.")
    percent: Decimal
    cap: int | None = Field(description="The largest discount per sale, minor units; null: no cap.")
    stacking: str = Field(description="Against the tier discount: `best_of`, `add` or `only_one`.")
    max_uses: int | None = Field(description="Uses per member per occasion; null: no limit.")
    period_start: date | None = Field(
        description="First day of the occasion the sale's local date (store's zone) belongs to; null: "
        "that date is not one."
    )
    applies: bool = Field(description="This occasion's discount is in `discounts`.")
    explanation: str = Field(
        description="Why it applies (percent, cap, stacking) or not (not that day, used up, the tier "
        "discount larger, another occasion larger)."
    )

    @field_validator("explanation", mode="before")
    @classmethod
    def _worded(cls, value: object) -> str:
        return str(value)


class BonusLimitsOut(Schema):
    per_day: int | None
    per_week: int | None
    per_month: int | None
    per_member: int | None = Field(description="At most in all.")
    budget: int | None = Field(description="Points the rule gives in all, program-wide.")
    min_amount: int = Field(description="The amount due the purchase must reach, minor units.")


class BonusOut(Schema):
    """A first-purchase or referral bonus the sale would trigger at its confirmation (issue 15 §5)."""

    rule_id: int
    name: str
    kind: str = Field(description="`first_purchase` or `referral`.")
    recipient: str = Field(description="`member` (the buyer) or `referrer` (whose code they used).")
    member_id: int | None = Field(description="Who would get the points.")
    points: int
    given: bool = Field(description="It would be given if the sale were confirmed now.")
    code: str = Field(
        description="Why not, when not given: `not_first_purchase`, `below_minimum`, `not_referred`, "
        "`referrer_cannot_earn`, `already_given`, `limit_per_day`, `limit_per_week`, "
        "`limit_per_month`, `limit_per_member`, `budget_spent`; empty when given."
    )
    limits: BonusLimitsOut
