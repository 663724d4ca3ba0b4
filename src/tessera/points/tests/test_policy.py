"""A lot's dates are counted on the merchant's local calendar (issue 13): month ends, 29 February, year
ends, and the UTC instants either side of local midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tessera.points.models import ExpiryKind, Policy
from tessera.points.policy import LotDates, PointsPolicy, from_row, lot_dates, policy_of
from tessera.points.services import save_policy

HCM = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7
SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8


def policy(*, months: int = 1, pending_days: int = 0, **expiry: Any) -> PointsPolicy:
    return PointsPolicy(
        earn_points=Decimal(1),
        earn_per_amount=10000,
        point_value=Decimal(100),
        pending_days=pending_days,
        expiry_period=months,
        **expiry,
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


EXPIRY_CASES = [
    # (zone, earned at (UTC), validity months, expires at (UTC)), with the local dates in the comment.
    pytest.param(HCM, utc(2027, 1, 31, 3), 1, utc(2027, 2, 28, 3), id="31 Jan + 1 month = 28 Feb"),
    pytest.param(HCM, utc(2028, 1, 31, 3), 1, utc(2028, 2, 29, 3), id="31 Jan + 1 month = 29 Feb (leap)"),
    pytest.param(HCM, utc(2028, 2, 29, 3), 12, utc(2029, 2, 28, 3), id="29 Feb + 12 months = 28 Feb"),
    pytest.param(HCM, utc(2028, 2, 29, 3), 48, utc(2032, 2, 29, 3), id="29 Feb + 48 months = 29 Feb"),
    pytest.param(HCM, utc(2027, 3, 31, 3), 1, utc(2027, 4, 30, 3), id="31 Mar + 1 month = 30 Apr"),
    pytest.param(
        SHANGHAI, utc(2026, 12, 31, 15, 30), 1, utc(2027, 1, 31, 15, 30), id="31 Dec 23:30 + 1 month"
    ),
    pytest.param(SHANGHAI, utc(2026, 12, 31, 4), 12, utc(2027, 12, 31, 4), id="31 Dec + 12 months"),
    pytest.param(SHANGHAI, utc(2026, 11, 30, 4), 3, utc(2027, 2, 28, 4), id="30 Nov + 3 months = 28 Feb"),
    # HCM midnight of 31 Jan is 17:00 UTC on 30 Jan: one second earlier the local date is still the 30th.
    pytest.param(
        HCM, utc(2027, 1, 30, 16, 59, 59), 1, utc(2027, 2, 28, 16, 59, 59), id="HCM 30 Jan 23:59:59"
    ),
    pytest.param(HCM, utc(2027, 1, 30, 17), 1, utc(2027, 2, 27, 17), id="HCM 31 Jan 00:00"),
    # Shanghai midnight of 31 Mar is 16:00 UTC on 30 Mar.
    pytest.param(
        SHANGHAI, utc(2027, 3, 30, 15, 59, 59), 1, utc(2027, 4, 30, 15, 59, 59), id="Shanghai 30 Mar 23:59:59"
    ),
    pytest.param(SHANGHAI, utc(2027, 3, 30, 16), 1, utc(2027, 4, 29, 16), id="Shanghai 31 Mar 00:00"),
    # New Year's Eve in HCM starts at 17:00 UTC on 31 Dec: the UTC year and the local year differ.
    pytest.param(
        HCM, utc(2026, 12, 31, 16, 59, 59), 2, utc(2027, 2, 28, 16, 59, 59), id="HCM 31 Dec 23:59:59"
    ),
    pytest.param(HCM, utc(2026, 12, 31, 17), 2, utc(2027, 2, 28, 17), id="HCM 1 Jan 00:00"),
]


@pytest.mark.parametrize(("tz", "earned_at", "months", "expires_at"), EXPIRY_CASES)
def test_points_expire_whole_months_after_the_local_earning_date(tz, earned_at, months, expires_at):
    dates = lot_dates(policy(months=months), earned_at=earned_at, tz=tz)

    assert dates == LotDates(available_at=earned_at, expires_at=expires_at)
    assert dates.expires_at is not None and dates.expires_at.utcoffset().total_seconds() == 0


def test_points_never_expire_when_the_policy_says_never():
    dates = lot_dates(policy(expiry=ExpiryKind.NEVER), earned_at=utc(2027, 1, 31, 3), tz=HCM)

    assert dates.expires_at is None


PENDING_CASES = [
    # (zone, earned at (UTC), pending days, available at (UTC))
    pytest.param(HCM, utc(2027, 1, 31, 3), 7, utc(2027, 2, 7, 3), id="over a month end"),
    pytest.param(SHANGHAI, utc(2026, 12, 28, 4), 7, utc(2027, 1, 4, 4), id="over a year end"),
    pytest.param(HCM, utc(2028, 2, 25, 3), 4, utc(2028, 2, 29, 3), id="onto 29 Feb"),
    pytest.param(HCM, utc(2027, 1, 31, 3), 0, utc(2027, 1, 31, 3), id="no return window"),
]


@pytest.mark.parametrize(("tz", "earned_at", "days", "available_at"), PENDING_CASES)
def test_points_from_a_sale_wait_out_the_return_window(tz, earned_at, days, available_at):
    dates = lot_dates(policy(pending_days=days), earned_at=earned_at, tz=tz, return_window=True)

    assert dates.available_at == available_at


def test_points_given_outside_a_sale_are_available_at_once():
    earned_at = utc(2027, 1, 31, 3)

    dates = lot_dates(policy(pending_days=7, months=1), earned_at=earned_at, tz=HCM)

    assert dates == LotDates(available_at=earned_at, expires_at=utc(2027, 2, 28, 3))


@pytest.mark.django_db
def test_the_policy_is_read_from_the_merchants_policy_row(merchant):
    save_policy(merchant=merchant, pending_days=3, expiry_period=6, point_value=Decimal("50"))

    assert policy_of(merchant) == from_row(Policy.objects.get(merchant=merchant))
    assert policy_of(merchant) == PointsPolicy(
        earn_points=Decimal(1),
        earn_per_amount=10000,
        point_value=Decimal("50"),
        pending_days=3,
        expiry=ExpiryKind.MONTHS,
        expiry_period=6,
    )
