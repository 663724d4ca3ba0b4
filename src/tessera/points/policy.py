"""The points policy: what a point is worth, how fast it is earned, when a lot opens and when it expires.

This package sits below `ledger`'s callers (`sales`, `rules`, `tiers`, `adjustments`, `imports`,
`reports`) and imports none of them: they read the policy through `policy_of` and date every lot they
write through `lot_dates`. The values are stored in `points.Policy`, one row per merchant, edited on the
back office's "Points policy" page; `policy_of` reads it through the configuration cache
(`tenancy.config`), which every change to the row renews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from tessera.points.models import ExpiryKind, Policy
from tessera.tenancy import config
from tessera.tenancy.models import Merchant


@dataclass(frozen=True)
class PointsPolicy:
    """A merchant's points policy, read-only (the fields are `points.Policy`'s)."""

    earn_points: Decimal
    earn_per_amount: int
    point_value: Decimal
    pending_days: int
    expiry: str = ExpiryKind.MONTHS.value
    expiry_period: int = 12
    round_to_month_end: bool = False
    reset_month: int = 1
    reset_day: int = 1
    notice_days: int = 14
    #: Lines with these SKUs earn no points (delivery, services; issue 15 §4).
    non_earning_skus: frozenset[str] = frozenset()


def from_row(row: Policy) -> PointsPolicy:
    """The one place the policy is built from its stored row."""
    return PointsPolicy(
        earn_points=row.earn_points,
        earn_per_amount=row.earn_per_amount,
        point_value=row.point_value,
        pending_days=row.pending_days,
        expiry=str(row.expiry),
        expiry_period=row.expiry_period,
        round_to_month_end=row.round_to_month_end,
        reset_month=row.reset_month,
        reset_day=row.reset_day,
        notice_days=row.notice_days,
        non_earning_skus=frozenset(row.non_earning_skus or ()),
    )


def policy_of(merchant: Merchant) -> PointsPolicy:
    """The merchant's points policy (its row is created with defaults on first use); from the
    configuration cache on the point-of-sale path."""
    return config.cached(merchant.pk, "points.policy", lambda: from_row(Policy.for_merchant(merchant)))


@dataclass(frozen=True)
class LotDates:
    """When a lot of earned points can be spent and when what is left of it expires (None: never)."""

    available_at: datetime
    expires_at: datetime | None


def lot_dates(
    policy: PointsPolicy, *, earned_at: datetime, tz: ZoneInfo, return_window: bool = False
) -> LotDates:
    """The dates of a lot earned at `earned_at`, counted on the calendar of the merchant's zone `tz`.

    Every writer of points lots calls this (sales, manual points, top-up bonuses, adjustment vouchers,
    tier rewards, imported opening balances without an expiry date of their own): the pending period
    applies only to points that a sale's return can take back (`return_window`); the others are
    available at once.
    """
    local = earned_at.astimezone(tz)
    available = local + timedelta(days=policy.pending_days) if return_window else local
    return LotDates(available_at=available.astimezone(UTC), expires_at=_expiry(policy, local))


def _expiry(policy: PointsPolicy, local: datetime) -> datetime | None:
    """The one place an expiry rule is applied, on the local earning date and time (`local`).

    - days, months: the same local time N days or months later; a day the target month lacks becomes
      its last day (31 January + 1 month = 28 or 29 February);
    - months rounded up to the month's end: when the month N months after earning ends (local midnight
      starting the next month), so points earned early and late in a month expire together;
    - calendar years: when the Nth calendar year after the year of earning ends (N = 0: that year);
    - yearly reset: when the first reset day after the earning date begins. Points earned on the reset
      day itself (it began before they were earned) last until the next year's reset day; a reset on 29
      February falls on 28 February in the years without one.
    """
    kind, n = policy.expiry, policy.expiry_period
    day = local.date()
    if kind == ExpiryKind.NEVER:
        return None
    if kind == ExpiryKind.DAYS:
        return (local + relativedelta(days=n)).astimezone(UTC)
    if kind == ExpiryKind.MONTHS and not policy.round_to_month_end:
        return (local + relativedelta(months=n)).astimezone(UTC)
    if kind == ExpiryKind.MONTHS:
        return _midnight(day + relativedelta(months=n + 1, day=1), local.tzinfo)
    if kind == ExpiryKind.CALENDAR_YEARS:
        return _midnight(day + relativedelta(years=n + 1, month=1, day=1), local.tzinfo)
    if kind == ExpiryKind.YEARLY_RESET:
        reset = day + relativedelta(month=policy.reset_month, day=policy.reset_day)
        if reset <= day:
            reset = day + relativedelta(years=1, month=policy.reset_month, day=policy.reset_day)
        return _midnight(reset, local.tzinfo)
    raise ValueError(f"unknown expiry kind {kind!r}")


def _midnight(day: date, tz: tzinfo | None) -> datetime:
    """The instant `day` begins in the zone (as UTC)."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
