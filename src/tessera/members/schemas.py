"""Typed shapes that cross layers in the members app: the segment filters (C6)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tessera.members.models import Gender, MemberStatus


class SegmentFilters(BaseModel):
    """A saved member filter. Every field narrows the set; lists match any of their values.

    Dates are the merchant's calendar days, both ends included. "Last visit" is the newest ledger
    entry of the member's accounts; members who never visited match neither `last_visit_before`
    nor `last_visit_after`.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    status: list[MemberStatus] = Field(default_factory=list)
    home_stores: list[int] = Field(default_factory=list, description="Store ids.")
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    region: str = Field(default="", max_length=100)
    occupation: str = Field(default="", max_length=100)
    tags: list[int] = Field(default_factory=list, description="Tag ids; a member with any of them matches.")
    gender: Gender | None = None
    joined_from: date | None = None
    joined_to: date | None = None
    min_points: int | None = Field(default=None, ge=0)
    max_points: int | None = Field(default=None, ge=0)
    last_visit_after: date | None = None
    last_visit_before: date | None = None

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> SegmentFilters:
        pairs = (
            ("min_age", "max_age"),
            ("joined_from", "joined_to"),
            ("min_points", "max_points"),
            ("last_visit_after", "last_visit_before"),
        )
        for low, high in pairs:
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{low} must not be greater than {high}")
        return self
