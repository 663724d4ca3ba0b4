"""Typed shapes that cross layers in the members app: the segment filters (C6), the birthday bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tessera.core.limits import MAX_BALANCE, MIN_BIRTH_YEAR, Id, IsoDate
from tessera.members.models import Gender, MemberStatus


def birthday_in_range(day: date, *, today: date) -> bool:
    """A birthday is a day from MIN_BIRTH_YEAR to `today` (the merchant's), both included."""
    return date(MIN_BIRTH_YEAR, 1, 1) <= day <= today


def _latest_today() -> date:
    """Today somewhere on Earth (UTC+14): the API refuses a birthday after it, whatever the zone."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def _check_birthday(day: date) -> date:
    if not birthday_in_range(day, today=_latest_today()):
        raise ValueError(f"a birthday must be from {MIN_BIRTH_YEAR}-01-01 up to today")
    return day


#: An API birthday: not in the future, not before MIN_BIRTH_YEAR.
Birthday = Annotated[IsoDate, AfterValidator(_check_birthday)]


class SegmentFilters(BaseModel):
    """A saved member filter. Every field narrows the set; lists match any of their values.

    Dates are the merchant's calendar days, both ends included. "Last visit" is the newest ledger
    entry of the member's accounts; members who never visited match neither `last_visit_before`
    nor `last_visit_after`.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    status: list[MemberStatus] = Field(default_factory=list)
    home_stores: list[Id] = Field(default_factory=list, description="Store ids.")
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)
    region: str = Field(default="", max_length=100)
    occupation: str = Field(default="", max_length=100)
    tags: list[Id] = Field(default_factory=list, description="Tag ids; a member with any of them matches.")
    gender: Gender | None = None
    joined_from: IsoDate | None = None
    joined_to: IsoDate | None = None
    min_points: int | None = Field(default=None, ge=0, le=MAX_BALANCE)
    max_points: int | None = Field(default=None, ge=0, le=MAX_BALANCE)
    last_visit_after: IsoDate | None = None
    last_visit_before: IsoDate | None = None

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
