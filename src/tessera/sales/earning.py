"""How many points a purchase earns: the merchant's earning rules (E5), see `tessera.rules.simulator`.

Without any rule that applies, the flat rate of the merchant's points policy (`tessera.points.policy`):
`earn_points` per `earn_per_amount` minor units, rounded down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tessera.cards.models import Card
from tessera.members.models import Member
from tessera.rules.simulator import BasketLine, Part, simulate
from tessera.tenancy.models import Merchant, Store


@dataclass(frozen=True)
class EarnQuote:
    points: int
    explanation: str
    parts: list[Part] = field(default_factory=list)
    #: Each line's share of `points`, in the basket's order (issue 15 §4); empty without lines.
    line_points: list[int] = field(default_factory=list)


def points_for(
    *,
    merchant: Merchant,
    amount: int,
    member: Member | None,
    store: Store | None,
    at: datetime,
    lines: Sequence[BasketLine] | None = None,
    card: Card | None = None,
    perks: Any = None,
) -> EarnQuote:
    """The points `amount` earns under the merchant's rules, with the part each rule gave."""
    simulation = simulate(
        merchant=merchant,
        amount=amount,
        lines=lines,
        member=member,
        store=store,
        at=at,
        card=card,
        perks=perks,
    )
    return EarnQuote(
        points=simulation.points,
        explanation=simulation.explanation,
        parts=simulation.parts,
        line_points=[line.points for line in simulation.lines],
    )
