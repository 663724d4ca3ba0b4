"""How many points a purchase earns. The earning-rules issue (E5) replaces `points_for`'s body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from django.utils.translation import gettext as _

from tessera.core.money import format_money
from tessera.members.models import Member
from tessera.sales.models import SalesSettings
from tessera.tenancy.models import Merchant, Store


@dataclass(frozen=True)
class EarnQuote:
    points: int
    explanation: str


def points_for(
    *, merchant: Merchant, amount: int, member: Member | None, store: Store | None, at: datetime
) -> EarnQuote:
    """The merchant's flat rate: `earn_points` per `earn_per_amount` minor units, rounded down."""
    rate = SalesSettings.for_merchant(merchant)
    points = 0
    if amount > 0:
        exact = Decimal(amount) * rate.earn_points / Decimal(rate.earn_per_amount)
        points = int(exact.to_integral_value(rounding=ROUND_FLOOR))
    explanation = _("%(points)s point(s) per %(amount)s spent, rounded down") % {
        "points": rate.earn_points.normalize(),
        "amount": format_money(rate.earn_per_amount, merchant.currency),
    }
    return EarnQuote(points=points, explanation=explanation)
