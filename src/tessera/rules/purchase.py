"""What a simulated purchase gets besides its points: the discounts (the tier's and an occasion's, issue
15 §3) and the bonuses of a first purchase (issue 15 §5).

`rules` stands below the apps that decide these (`rewards` knows occasions and bonus rules, `sales`
what a first purchase is), so it cannot ask them: `sales` registers its explainer here when it starts
(`register`), built from the functions its quote and confirmation run, and the simulator (API and page)
calls `explain`. Without an explainer (an app list without `sales`), a simulation shows points alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from django.utils.translation import gettext_lazy as _

from tessera.cards.models import Card
from tessera.members.models import Member
from tessera.rules.explain import Why
from tessera.rules.models import EarningRuleVersion
from tessera.rules.simulator import BasketLine, Simulation, same_merchant, simulate
from tessera.tenancy.models import Merchant, Store

#: How an occasion discount meets the tier discount, as the simulator page says it.
STACKING = {
    "best_of": _("best of the two"),
    "add": _("added to it"),
    "only_one": _("instead of it"),
}
#: Why a purchase bonus would not be given (`BonusOutcome.code`).
NOT_GIVEN = {
    "not_first_purchase": _("not the member's first purchase"),
    "below_minimum": _("the amount due is below the rule's minimum"),
    "not_referred": _("the member was not referred"),
    "referrer_cannot_earn": _("the referrer cannot earn points"),
    "already_given": _("already given"),
    "limit_per_day": _("the limit per day is reached"),
    "limit_per_week": _("the limit per week is reached"),
    "limit_per_month": _("the limit per month is reached"),
    "limit_per_member": _("the limit per member is reached"),
    "budget_spent": _("the rule's budget is spent"),
}
LIMITS = {
    "per_day": _("per day: %(n)s"),
    "per_week": _("per week: %(n)s"),
    "per_month": _("per month: %(n)s"),
    "per_member": _("in all: %(n)s"),
    "budget": _("budget: %(n)s points"),
    "min_amount": _("minimum: %(n)s"),
}


@dataclass(frozen=True)
class DiscountPart:
    """One discount the sale gets: the tier's (`occasion_id` None) or an occasion's."""

    name: str
    percent: Decimal
    amount: int
    explanation: Why | str
    occasion_id: int | None = None


@dataclass(frozen=True)
class OccasionOutcome:
    """An active occasion discount and what it does to this sale."""

    occasion_id: int
    name: str
    kind: str
    period: str
    percent: Decimal
    #: The largest discount per sale (None: no cap).
    cap: int | None
    #: Against the tier discount: `best_of`, `add` or `only_one`.
    stacking: str
    #: Uses per member per occasion (None: no limit).
    max_uses: int | None
    #: The first day of the occasion the sale's date belongs to (None: not an occasion that day).
    period_start: date | None
    applies: bool
    explanation: Why | str

    @property
    def stacking_label(self) -> str:
        return str(STACKING.get(self.stacking, self.stacking))


@dataclass(frozen=True)
class BonusOutcome:
    """A bonus rule a first purchase triggers, for whom, and whether it would be given now."""

    rule_id: int
    name: str
    kind: str
    #: Who gets it: the buyer's id, or their referrer's.
    member_id: int | None
    #: `member` (the buyer) or `referrer`.
    recipient: str
    points: int
    given: bool
    #: Why not, when not given: `not_first_purchase`, `below_minimum`, `not_referred`,
    #: `referrer_cannot_earn`, `already_given`, `limit_per_day|week|month|member`, `budget_spent`.
    code: str
    #: `per_day`, `per_week`, `per_month`, `per_member`, `budget` (None: no limit) and `min_amount`.
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def reason_text(self) -> str:
        return str(NOT_GIVEN.get(self.code, self.code))

    @property
    def limits_text(self) -> str:
        return (
            "; ".join(
                str(LIMITS[name]) % {"n": value}
                for name, value in self.limits.items()
                if value and name in LIMITS
            )
            or "—"
        )


@dataclass(frozen=True)
class PurchaseView:
    total: int
    discount_amount: int
    amount_due: int
    discounts: list[DiscountPart]
    occasions: list[OccasionOutcome]
    first_purchase: bool
    bonuses: list[BonusOutcome]
    #: The member's tier benefits as read for the discounts, for the points' tier multiplier.
    perks: Any = None


class Explainer(Protocol):
    def __call__(
        self, *, merchant: Merchant, member: Member, store: Store, at: datetime, total: int
    ) -> PurchaseView: ...


_explainers: list[Explainer] = []


def register(explainer: Explainer) -> None:
    """Set the explainer (`sales` does, in its `ready()`); registering again replaces it."""
    _explainers[:] = [explainer]


def explain(
    *, merchant: Merchant, member: Member, store: Store, at: datetime, total: int
) -> PurchaseView | None:
    """The discounts and first-purchase bonuses of a purchase of `total` by `member` at `at`, decided as
    the sale would decide them; None without an explainer."""
    if not _explainers:
        return None
    return _explainers[0](merchant=merchant, member=member, store=store, at=at, total=total)


@dataclass(frozen=True)
class PurchaseSimulation:
    points: Simulation
    #: The discounts and bonuses (None without an explainer).
    purchase: PurchaseView | None


def simulate_purchase(
    *,
    merchant: Merchant,
    amount: int | None,
    lines: Sequence[BasketLine] | None,
    member: Member,
    store: Store,
    at: datetime,
    card: Card | None = None,
    draft: EarningRuleVersion | None = None,
) -> PurchaseSimulation:
    """The simulator (API and page): the purchase's discounts and bonuses, and its points. `amount`, when
    given, is what earns (as before); omitted, the points are earned, as the quote earns them, on the
    lines' total less the discounts."""
    same_merchant(merchant, member, store, card)
    total = sum(line.line_amount for line in lines) if lines else max(amount or 0, 0)
    view = explain(merchant=merchant, member=member, store=store, at=at, total=total)
    if amount is None:
        amount = view.amount_due if view is not None else total
    points = simulate(
        merchant=merchant,
        amount=amount,
        lines=lines,
        member=member,
        store=store,
        at=at,
        card=card,
        perks=view.perks if view is not None else None,
        draft=draft,
    )
    return PurchaseSimulation(points=points, purchase=view)
