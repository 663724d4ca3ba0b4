"""The points policy: what a point is worth, how fast it is earned, when a lot opens and when it expires.

This package sits below `ledger`'s callers (`sales`, `rules`, `tiers`, `adjustments`, `reports`) and
imports none of them: they read the policy through `policy_of` (or `from_settings` when they already
hold the settings row) and date every lot they write through `lot_dates`.

The values are still stored on `sales.SalesSettings`, one row per merchant, edited in the back office
there. So that nothing below `sales` imports it, `sales` hands this module its loader when the app is
ready (`provide`); moving the columns into a table of their own later changes `policy_of` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant


@dataclass(frozen=True)
class PointsPolicy:
    """A merchant's points policy, read-only. `validity_months` 0: earned points never expire."""

    earn_points: Decimal
    earn_per_amount: int
    point_value: Decimal
    pending_days: int
    validity_months: int


class PolicySettings(Protocol):
    """The stored row the policy is read from (today `sales.SalesSettings`)."""

    earn_points: Decimal
    earn_per_amount: int
    point_value: Decimal
    pending_days: int
    points_validity_months: int


def from_settings(row: PolicySettings) -> PointsPolicy:
    """The one place the policy is built from its stored row."""
    return PointsPolicy(
        earn_points=row.earn_points,
        earn_per_amount=row.earn_per_amount,
        point_value=row.point_value,
        pending_days=row.pending_days,
        validity_months=row.points_validity_months,
    )


_loader: Callable[[Merchant], PolicySettings] | None = None


def provide(loader: Callable[[Merchant], PolicySettings]) -> None:
    """Called once by the app that stores the policy (`sales`, in its `ready`)."""
    global _loader
    _loader = loader


def policy_of(merchant: Merchant) -> PointsPolicy:
    """The merchant's points policy (its settings row is created with defaults on first use)."""
    if _loader is None:
        raise ImproperlyConfigured("No app provides the points policy; is tessera.sales installed?")
    return from_settings(_loader(merchant))


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
    tier rewards): the pending period applies only to points that a sale's return can take back
    (`return_window`); the others are available at once. Validity is whole months from the local
    earning date and time; a day the target month lacks becomes its last day (31 January + 1 month =
    28 or 29 February).
    """
    local = earned_at.astimezone(tz)
    available = local + timedelta(days=policy.pending_days) if return_window else local
    return LotDates(available_at=available.astimezone(UTC), expires_at=_expiry(policy, local))


def _expiry(policy: PointsPolicy, local: datetime) -> datetime | None:
    # The one place an expiry rule is applied: further kinds of expiry (after N days, at the end of the
    # month or year of earning, a yearly reset) are added here, chosen by a field of PointsPolicy.
    if not policy.validity_months:
        return None
    return (local + relativedelta(months=policy.validity_months)).astimezone(UTC)
