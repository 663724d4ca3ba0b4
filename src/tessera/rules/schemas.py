"""Shapes the earning rules read and explain, shared with the sales API above them: a sale line, and
one part of the points a sale earns (E5)."""

from __future__ import annotations

from ninja import Schema
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
