"""How many points a purchase earns under the merchant's earning rules, and why (E5).

`simulate` is what the POS quote, a sale, "add points" and the back-office simulator all call. It
reads; it never writes.

Which rules apply
    The current version of every active rule, in the order of `priority` (lowest first), equal
    priorities in the order the rules were created (id). Never in the order they were edited.
    A rule applies when every condition it sets holds (an empty condition holds always):
    validity period [valid_from, valid_until); store; card type (of the card presented, else of any
    card in use the member holds); tier code (`tier_benefits(...).tier`, in any case); day of the week
    and hours [hour_from, hour_until) in the store's time zone (else the merchant's), a range with
    hour_from > hour_until crosses midnight; birthday window in the store's time zone — the day, the
    week (Monday to Sunday) holding the birthday, or the month (a 29 February birthday is on
    28 February in other years); minimum invoice total; number of stored-value top-ups so far.

What each applying rule gives (never negative)
    per_amount  `amount` × points ÷ per amount, rounded as the rule states (down, half up, up);
                `amount` is what earns: the amount due after the tier discount, less what points paid.
    multiplier  (multiplier − 1) × the points counted so far, i.e. of the rules before it (rounded as
                stated): a ×2 rule doubles what earlier rules gave, it adds nothing on its own.
    fixed       the bonus points.
    formula     `tessera.rules.formula`: rounded down; an error gives 0 points and says why.

Which lines a rule counts (issue 15 §4, `tessera.rules.lines`)
    A sale line has a SKU, a category and labels. Lines whose SKU is on the points policy's list of SKUs
    that earn nothing (delivery, services) count for no rule and not for the flat rate. A rule with
    "only" lists counts the lines matching one of them (a SKU, a category or a `key:value` label); its
    "except" lists drop the lines matching any. A rule none of whose lines is in the basket, or whose
    lines hold fewer units than its minimum quantity, does not apply. `amount` for a rule is its lines'
    share of the amount that earns (shared by line amount, largest remainder); without lines the
    amount is one line with no SKU, no category and no label. The minimum invoice total is the whole
    basket's.

What each applying rule gives (never negative), and to which lines
    per_amount  on the rule's amount, shared among its lines by amount.
    multiplier  on the points its lines have so far, shared among them by those points.
    fixed, formula  shared among the rule's lines by amount.
    line_multiplier  for each of its lines, (factor − 1) × the line's points so far (rounded as
                stated), the factor being the largest of the rule's multipliers (SKU, category or
                label) that matches the line: it goes to that line.
    product     bonus points × units for each of its lines (per unit), or the bonus once, shared among
                its lines by amount (once per sale); with a minimum quantity of the rule's products.
    The flat rate is shared among the earning lines by amount and the tier multiplier among the lines
    by their points. The parts' shares of each line make its points (`Simulation.lines`): what the sale
    stores on the line and a refund of the line takes back.

How they combine (per rule)
    add         its points are added.
    best_of     the best_of rules compete: a best_of rule counts only if it gives more than every
                best_of rule before it, and then replaces that one (ties: the earlier rule wins).
    stop        its points are added and no later rule applies.

The flat rate
    When no rule that gives points by itself applies (none, or only multipliers), the merchant's
    flat rate of the points policy is the first part, so "double points on Tuesdays" is one ×2 rule.

Tier multiplier
    Last, when the member's tier has an `earning_multiplier` above 1, (multiplier − 1) × the total is
    added (rounded down) as its own part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any, Protocol

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tessera.cards.models import Card
from tessera.core.errors import NotFound
from tessera.core.formatting import format_money
from tessera.members.models import Member
from tessera.points.policy import policy_of
from tessera.rules import explain, lines, selectors
from tessera.rules import formula as formulas
from tessera.rules.explain import Money, Why
from tessera.rules.models import (
    BirthdayWindow,
    Combine,
    EarningRuleVersion,
    Effect,
    ProductPer,
    Rounding,
    Weekday,
)
from tessera.tenancy.models import Merchant, Store
from tessera.tiers.benefits import tier_benefits

ROUNDINGS: dict[str, str] = {
    Rounding.DOWN: ROUND_FLOOR,
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.UP: ROUND_CEILING,
}


class BasketLine(Protocol):
    @property
    def quantity(self) -> int: ...

    @property
    def line_amount(self) -> int: ...

    @property
    def sku(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class BasketItem:
    """A basket line as the rules see it, for callers without the sales app's lines."""

    quantity: int
    line_amount: int
    sku: str = ""
    category: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


BEATEN = gettext_noop("%(why)s: %(points)s, but “%(winner)s” gives more (best of)")


@dataclass(frozen=True)
class Part:
    """What one rule gave. `rule_id`/`version_id` are None for the flat rate and the tier multiplier."""

    rule_id: int | None
    version_id: int | None
    name: Why | str  # a rule's own name, or the flat rate's / tier's worded in the reader's language
    points: int
    explanation: Why
    #: The points' share of each line of the basket, in the basket's order (not stored in the part:
    #: each line keeps its total, `TransactionLine.points`).
    allocation: tuple[int, ...] = ()

    def stored(self) -> dict[str, Any]:
        """Its JSON form, kept on the sale (`Transaction.earning_parts`)."""
        return {
            "rule_id": self.rule_id,
            "version_id": self.version_id,
            "name": explain.stored(self.name),
            "points": self.points,
            "explanation": explain.stored(self.explanation),
        }


@dataclass(frozen=True)
class Skipped:
    """A rule in force that did not apply, and the first condition that failed."""

    rule_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class Stacking:
    """Multipliers that apply to the same purchase: they multiply each other (×2 and ×2 make ×4)."""

    names: list[Why | str]
    multiplier: Decimal

    @property
    def explanation(self) -> Why:
        return Why(
            gettext_noop("%(rules)s stacked: ×%(multiplier)s together"),
            {
                "rules": ", ".join(f"“{name}”" for name in self.names),
                "multiplier": self.multiplier.normalize(),
            },
        )


@dataclass(frozen=True)
class LinePoints:
    """What one line of the basket earns, and from which parts."""

    position: int
    sku: str
    points: int
    parts: list[tuple[Why | str, int]]

    @property
    def explanation(self) -> str:
        return "; ".join(f"{name}: {points}" for name, points in self.parts)


@dataclass(frozen=True)
class Simulation:
    points: int
    parts: list[Part]
    skipped: list[Skipped] = field(default_factory=list)
    stacked: Stacking | None = None  # when two or more multipliers applied
    #: Each line's points and the parts they came from; empty without lines.
    lines: list[LinePoints] = field(default_factory=list)

    @property
    def explanation(self) -> str:
        return "; ".join(f"{p.name}: {p.explanation}" for p in self.parts)

    @property
    def version_ids(self) -> list[int]:
        return [p.version_id for p in self.parts if p.version_id is not None]


@dataclass(frozen=True)
class RuleSpec:
    """A rule version read back from its snapshot."""

    rule_id: int
    version_id: int
    name: str
    valid_from: datetime | None
    valid_until: datetime | None
    store_ids: frozenset[int]
    card_type_ids: frozenset[int]
    tier_codes: frozenset[str]
    weekdays: frozenset[int]
    hour_from: int | None
    hour_until: int | None
    birthday_window: str
    min_total: int | None
    min_top_ups: int | None
    max_top_ups: int | None
    effect: str
    points: Decimal | None
    per_amount: int | None
    multiplier: Decimal | None
    rounding: str
    bonus_points: int | None
    formula: str
    combine: str
    include_skus: frozenset[str] = frozenset()
    include_categories: frozenset[str] = frozenset()
    include_labels: frozenset[str] = frozenset()
    exclude_skus: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()
    exclude_labels: frozenset[str] = frozenset()
    min_quantity: int | None = None
    line_multipliers: tuple[lines.LineMultiplier, ...] = ()
    product_per: str = ProductPer.UNIT

    @property
    def has_only(self) -> bool:
        return bool(self.include_skus or self.include_categories or self.include_labels)

    def counts(self, line: BasketLine) -> bool:
        """The rule counts this (earning) line: it matches an "only" list, when there are any, and no
        "except" list."""
        if self.has_only and not lines.matches(
            line, skus=self.include_skus, categories=self.include_categories, labels=self.include_labels
        ):
            return False
        return not lines.matches(
            line, skus=self.exclude_skus, categories=self.exclude_categories, labels=self.exclude_labels
        )

    @classmethod
    def of(cls, version: EarningRuleVersion) -> RuleSpec:
        s = version.snapshot

        def moment(key: str) -> datetime | None:
            return parse_datetime(s[key]) if s.get(key) else None

        def decimal(key: str) -> Decimal | None:
            return Decimal(s[key]) if s.get(key) is not None else None

        return cls(
            rule_id=version.rule_id,
            version_id=version.pk,
            name=s["name"],
            valid_from=moment("valid_from"),
            valid_until=moment("valid_until"),
            store_ids=frozenset(s.get("store_ids") or ()),
            card_type_ids=frozenset(s.get("card_type_ids") or ()),
            tier_codes=frozenset(s.get("tier_codes") or ()),
            weekdays=frozenset(s.get("weekdays") or ()),
            hour_from=s.get("hour_from"),
            hour_until=s.get("hour_until"),
            birthday_window=s.get("birthday_window") or "",
            min_total=s.get("min_total"),
            min_top_ups=s.get("min_top_ups"),
            max_top_ups=s.get("max_top_ups"),
            effect=s["effect"],
            points=decimal("points"),
            per_amount=s.get("per_amount"),
            multiplier=decimal("multiplier"),
            rounding=s.get("rounding") or Rounding.DOWN,
            bonus_points=s.get("bonus_points"),
            formula=s.get("formula") or "",
            combine=s.get("combine") or Combine.ADD,
            include_skus=frozenset(s.get("include_skus") or ()),
            include_categories=frozenset(s.get("include_categories") or ()),
            include_labels=frozenset(s.get("include_labels") or ()),
            exclude_skus=frozenset(s.get("exclude_skus") or ()),
            exclude_categories=frozenset(s.get("exclude_categories") or ()),
            exclude_labels=frozenset(s.get("exclude_labels") or ()),
            min_quantity=s.get("min_quantity"),
            line_multipliers=tuple(lines.multiplier_of(m) for m in s.get("line_multipliers") or ()),
            product_per=s.get("product_per") or ProductPer.UNIT,
        )


def in_birthday_window(birthday: date | None, today: date, window: str) -> bool:
    """Is `today` (a local date) in the day, week or month of the member's birthday?"""
    if not window:
        return True
    if birthday is None:
        return False
    if window == BirthdayWindow.MONTH:
        return birthday.month == today.month
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            day = birthday.replace(year=year)
        except ValueError:  # 29 February in a common year
            day = date(year, 2, 28)
        if window == BirthdayWindow.DAY and day == today:
            return True
        monday = day - timedelta(days=day.weekday())
        if window == BirthdayWindow.WEEK and monday <= today < monday + timedelta(days=7):
            return True
    return False


class Facts:
    """What the rules look at, computed once and only when a rule asks."""

    def __init__(
        self,
        *,
        merchant: Merchant,
        amount: int,
        lines: Sequence[BasketLine] | None,
        member: Member | None,
        store: Store | None,
        at: datetime,
        card: Card | None,
        perks: Any = None,
    ) -> None:
        self.merchant = merchant
        self.amount = max(amount, 0)
        self.total = sum(line.line_amount for line in lines) if lines else self.amount
        self.items = sum(line.quantity for line in lines) if lines else 0
        #: The basket's lines; without lines, one line of the amount with no SKU, category or label.
        self.lines: list[BasketLine] = (
            list(lines) if lines else [BasketItem(quantity=0, line_amount=self.amount)]
        )
        self.has_lines = bool(lines)
        self.member = member
        self.store = store
        self.card = card
        self.at = at
        self.local = at.astimezone(store.tz if store is not None else merchant.tz)
        self._perks = perks

    @cached_property
    def perks(self) -> Any:
        if self._perks is not None:
            return self._perks
        if self.member is None or self.store is None:
            return None
        return tier_benefits(member=self.member, store=self.store, at=self.at)

    @cached_property
    def tier_code(self) -> str | None:
        """The member's tier code, as `tier_benefits(...).tier` gives it (None: no tier)."""
        return getattr(self.perks, "tier", None)

    @cached_property
    def top_ups(self) -> int:
        return selectors.top_up_count(self.member) if self.member is not None else 0

    @cached_property
    def card_type_ids(self) -> set[int]:
        if self.card is not None:
            return {self.card.type_id}
        return selectors.card_type_ids_of(self.member) if self.member is not None else set()

    @cached_property
    def is_birthday(self) -> bool:
        birthday = self.member.birthday if self.member is not None else None
        return in_birthday_window(birthday, self.local.date(), BirthdayWindow.DAY)

    @cached_property
    def earning(self) -> list[int]:
        """Each line's share of the amount that earns (by line amount, largest remainder); 0 for a line
        whose SKU earns nothing."""
        shares = lines.apportion(self.amount, [max(line.line_amount, 0) for line in self.lines])
        skip = policy_of(self.merchant).non_earning_skus
        return [
            0 if line.sku and line.sku in skip else share
            for line, share in zip(self.lines, shares, strict=True)
        ]

    @cached_property
    def earning_lines(self) -> list[int]:
        """Indexes of the lines that earn (not on the list of SKUs that earn nothing)."""
        skip = policy_of(self.merchant).non_earning_skus
        return [i for i, line in enumerate(self.lines) if not (line.sku and line.sku in skip)]

    def scope(self, spec: RuleSpec) -> list[int]:
        """Indexes of the lines the rule counts."""
        return [i for i in self.earning_lines if spec.counts(self.lines[i])]

    @cached_property
    def flat_rate(self) -> tuple[int, Why]:
        rate = policy_of(self.merchant)
        earning = sum(self.earning)
        exact = Decimal(earning) * rate.earn_points / Decimal(rate.earn_per_amount)
        points = int(exact.to_integral_value(rounding=ROUND_FLOOR))
        why = Why(
            gettext_noop("%(points)s point(s) per %(amount)s spent, rounded down"),
            {
                "points": rate.earn_points.normalize(),
                "amount": Money(rate.earn_per_amount, self.merchant.currency),
            },
        )
        return points, why

    def variables(self, points_so_far: int, amount: int) -> dict[str, Any]:
        return {
            "amount": amount,
            "total": self.total,
            "items": self.items,
            "top_ups": self.top_ups,
            "is_birthday": int(self.is_birthday),
            "weekday": self.local.isoweekday(),
            "hour": self.local.hour,
            "day": self.local.day,
            "month": self.local.month,
            "tier": self.tier_code or "",
            "points": points_so_far,
            "flat_points": self.flat_rate[0],
        }


def mismatch(spec: RuleSpec, facts: Facts) -> str | None:
    """None when the rule applies, else the first condition that fails (translated)."""
    if spec.valid_from is not None and facts.at < spec.valid_from:
        return _("not valid yet")
    if spec.valid_until is not None and facts.at >= spec.valid_until:
        return _("no longer valid")
    if spec.store_ids and (facts.store is None or facts.store.pk not in spec.store_ids):
        return _("another store")
    if spec.weekdays and facts.local.isoweekday() not in spec.weekdays:
        return _("not on %(weekday)s") % {"weekday": Weekday(facts.local.isoweekday()).label}
    if spec.hour_from is not None and spec.hour_until is not None:
        hour, start, end = facts.local.hour, spec.hour_from, spec.hour_until
        inside = start <= hour < end if start < end else (hour >= start or hour < end)
        if not inside:
            return _("not at %(hour)s:00") % {"hour": hour}
    if spec.min_total is not None and facts.total < spec.min_total:
        return _("the invoice total is below %(amount)s") % {
            "amount": format_money(spec.min_total, facts.merchant.currency)
        }
    if spec.birthday_window:
        birthday = facts.member.birthday if facts.member is not None else None
        if not in_birthday_window(birthday, facts.local.date(), spec.birthday_window):
            return _("outside the birthday window: %(window)s") % {
                "window": BirthdayWindow(spec.birthday_window).label
            }
    if spec.card_type_ids and not (facts.card_type_ids & spec.card_type_ids):
        return _("another card type")
    if spec.tier_codes and (facts.tier_code or "").casefold() not in {c.casefold() for c in spec.tier_codes}:
        return _("another tier")
    if spec.min_top_ups is not None and facts.top_ups < spec.min_top_ups:
        return _("fewer than %(count)s top-ups") % {"count": spec.min_top_ups}
    if spec.max_top_ups is not None and facts.top_ups > spec.max_top_ups:
        return _("more than %(count)s top-ups") % {"count": spec.max_top_ups}
    return None


def lines_mismatch(spec: RuleSpec, facts: Facts, scope: Sequence[int]) -> str | None:
    """None when the basket holds the rule's lines (and enough units of them), else why not."""
    if not scope:
        return _("no line of the basket counts for this rule")
    units = sum(facts.lines[i].quantity for i in scope)
    if spec.min_quantity is not None and units < spec.min_quantity:
        return _("%(units)s unit(s) of the rule's products, fewer than %(count)s") % {
            "units": units,
            "count": spec.min_quantity,
        }
    return None


def _rounded(exact: Decimal, rounding: str) -> int:
    return int(exact.to_integral_value(rounding=ROUNDINGS.get(rounding, ROUND_FLOOR)))


#: Effects that multiply the points of the rules before them and give nothing by themselves: when only
#: such rules apply, the flat rate is the first part.
MULTIPLYING = (Effect.MULTIPLIER, Effect.LINE_MULTIPLIER)

#: How a rule rounds, as its explanation says it ("…, rounded down").
ROUNDED = {
    Rounding.DOWN: gettext_noop("down"),
    Rounding.HALF_UP: gettext_noop("to the nearest (half up)"),
    Rounding.UP: gettext_noop("up"),
}


def _rounding_label(rounding: str) -> Why | str:
    return Why(ROUNDED[Rounding(rounding)], {}) if rounding in Rounding.values else rounding


def _spread(points: int, scope: Sequence[int], weights: Sequence[int], size: int) -> list[int]:
    """`points` shared among the lines `scope` by `weights` (indexed like the basket), as a list over
    the whole basket."""
    allocation = [0] * size
    for index, share in zip(scope, lines.apportion(points, [weights[i] for i in scope]), strict=True):
        allocation[index] = share
    return allocation


def effect_of(
    spec: RuleSpec, facts: Facts, scope: Sequence[int], alloc: Sequence[int]
) -> tuple[int, Why, list[int]]:
    """(points, explanation, each line's share) the rule gives to its lines `scope`, `alloc` being each
    line's points counted before it."""
    size = len(facts.lines)
    amount = sum(facts.earning[i] for i in scope)
    so_far = sum(alloc[i] for i in scope)
    by_amount = facts.earning
    if spec.effect == Effect.PER_AMOUNT and spec.points is not None and spec.per_amount:
        points = _rounded(Decimal(amount) * spec.points / Decimal(spec.per_amount), spec.rounding)
        return (
            points,
            Why(
                gettext_noop("%(points)s point(s) per %(per)s on %(amount)s, rounded %(rounding)s"),
                {
                    "points": spec.points.normalize(),
                    "per": Money(spec.per_amount, facts.merchant.currency),
                    "amount": Money(amount, facts.merchant.currency),
                    "rounding": _rounding_label(spec.rounding),
                },
            ),
            _spread(points, scope, by_amount, size),
        )
    if spec.effect == Effect.MULTIPLIER and spec.multiplier is not None:
        points = _rounded(Decimal(so_far) * (spec.multiplier - 1), spec.rounding)
        return (
            points,
            Why(
                gettext_noop("×%(multiplier)s on the %(before)s point(s) before it, rounded %(rounding)s"),
                {
                    "multiplier": spec.multiplier.normalize(),
                    "before": so_far,
                    "rounding": _rounding_label(spec.rounding),
                },
            ),
            _spread(points, scope, alloc if so_far else by_amount, size),
        )
    if spec.effect == Effect.FIXED:
        points = spec.bonus_points or 0
        return points, Why(gettext_noop("a fixed bonus"), {}), _spread(points, scope, by_amount, size)
    if spec.effect == Effect.FORMULA:
        try:
            points = formulas.evaluate(spec.formula, facts.variables(so_far, amount))
        except formulas.FormulaError as exc:
            return (
                0,
                Why(
                    gettext_noop("the formula “%(formula)s” could not be computed (%(reason)s): 0 points"),
                    {"formula": spec.formula, "reason": str(exc)},
                ),
                [0] * size,
            )
        why = Why(gettext_noop("formula “%(formula)s”, rounded down"), {"formula": spec.formula})
        return points, why, _spread(points, scope, by_amount, size)
    if spec.effect == Effect.LINE_MULTIPLIER:
        allocation = [0] * size
        used: list[str] = []
        for index in scope:
            found = lines.best_factor(facts.lines[index], spec.line_multipliers)
            if found is None:
                continue
            allocation[index] = _rounded(Decimal(alloc[index]) * (found.factor - 1), spec.rounding)
            if str(found) not in used:
                used.append(str(found))
        return (
            sum(allocation),
            Why(
                gettext_noop("%(multipliers)s on the points of each matching line, rounded %(rounding)s"),
                {"multipliers": ", ".join(used) or "—", "rounding": _rounding_label(spec.rounding)},
            ),
            allocation,
        )
    if spec.effect == Effect.PRODUCT:
        bonus = spec.bonus_points or 0
        if spec.product_per == ProductPer.SALE:
            why = Why(gettext_noop("%(points)s point(s) once for buying the product"), {"points": bonus})
            return bonus, why, _spread(bonus, scope, by_amount, size)
        allocation = [0] * size
        for index in scope:
            allocation[index] = bonus * facts.lines[index].quantity
        units = sum(facts.lines[i].quantity for i in scope)
        why = Why(
            gettext_noop("%(points)s point(s) for each of %(units)s unit(s) bought"),
            {"points": bonus, "units": units},
        )
        return sum(allocation), why, allocation
    return 0, Why(gettext_noop("the rule has no effect set"), {}), [0] * size


def _add(alloc: list[int], allocation: Sequence[int], sign: int = 1) -> None:
    for index, share in enumerate(allocation):
        alloc[index] += sign * share


def with_draft(versions: list[EarningRuleVersion], draft: EarningRuleVersion) -> list[EarningRuleVersion]:
    """The rules in force with `draft` in its place: instead of the rule it edits (same rule id), else
    after the rules of its priority or lower (a new rule is created last)."""
    others = [version for version in versions if version.rule_id != draft.rule_id or not draft.rule_id]
    order = (draft.snapshot["priority"], draft.rule_id or float("inf"))
    at = sum(1 for version in others if (version.snapshot["priority"], version.rule_id) < order)
    return [*others[:at], draft, *others[at:]]


def same_merchant(merchant: Merchant, *objects: Member | Store | Card | None) -> None:
    """NotFound unless every object given is the merchant's."""
    for obj in objects:
        if obj is not None and obj.merchant_id != merchant.pk:
            raise NotFound(_("Not found."), code="not_found")


def simulate(
    *,
    merchant: Merchant,
    amount: int,
    lines: Sequence[BasketLine] | None,
    member: Member | None,
    store: Store | None,
    at: datetime,
    card: Card | None = None,
    perks: Any = None,
    draft: EarningRuleVersion | None = None,
) -> Simulation:
    """The points `amount` earns for this member, store and moment, which rule gave which part, and
    each line's points.

    `amount` is what earns points (see the module docstring); `lines` give the invoice total, the item
    count and the lines the rules count (without lines the total is `amount`). `perks` is the member's
    `tier_benefits(...)` when the caller already has it. `draft` is a rule not saved yet (an unsaved
    version of it): it takes the place of the rule it edits, or joins the rules in force, in its
    priority's place.
    """
    same_merchant(merchant, member, store, card)
    facts = Facts(
        merchant=merchant,
        amount=amount,
        lines=lines,
        member=member,
        store=store,
        at=at,
        card=card,
        perks=perks,
    )
    applying: list[tuple[RuleSpec, list[int]]] = []
    skipped: list[Skipped] = []
    versions = selectors.versions_in_force(merchant)
    if draft is not None:
        versions = with_draft(versions, draft)
    for version in versions:
        spec = RuleSpec.of(version)
        reason = mismatch(spec, facts)
        scope: list[int] = []
        if reason is None:
            scope = facts.scope(spec)
            reason = lines_mismatch(spec, facts, scope)
        if reason is None:
            applying.append((spec, scope))
        else:
            skipped.append(Skipped(rule_id=spec.rule_id, name=spec.name, reason=reason))

    size = len(facts.lines)
    alloc = [0] * size  # each line's points so far
    parts: list[Part] = []
    total = 0
    if all(spec.effect in MULTIPLYING for spec, _scope in applying):
        flat, why = facts.flat_rate
        name = Why(gettext_noop("Flat rate"), {})
        allocation = _spread(flat, facts.earning_lines, facts.earning, size)
        parts.append(
            Part(
                rule_id=None,
                version_id=None,
                name=name,
                points=flat,
                explanation=why,
                allocation=tuple(allocation),
            )
        )
        _add(alloc, allocation)
        total = flat
    best: int | None = None  # index in `parts` of the best best_of rule so far
    multipliers: list[tuple[Why | str, Decimal]] = []
    for spec, scope in applying:
        points, why, allocation = effect_of(spec, facts, scope, alloc)
        part = Part(
            rule_id=spec.rule_id,
            version_id=spec.version_id,
            name=spec.name,
            points=points,
            explanation=why,
            allocation=tuple(allocation),
        )
        if spec.combine == Combine.BEST_OF:
            if best is not None and points <= parts[best].points:
                winner = parts[best].name
                part = replace(
                    part,
                    points=0,
                    explanation=Why(BEATEN, {"why": why, "points": points, "winner": winner}),
                    allocation=(0,) * size,
                )
            else:
                if best is not None:
                    loser = parts[best]
                    total -= loser.points
                    _add(alloc, loser.allocation, -1)
                    parts[best] = replace(
                        loser,
                        points=0,
                        explanation=Why(
                            BEATEN, {"why": loser.explanation, "points": loser.points, "winner": spec.name}
                        ),
                        allocation=(0,) * size,
                    )
                best = len(parts)
        parts.append(part)
        total += part.points
        _add(alloc, part.allocation)
        if spec.effect == Effect.MULTIPLIER and spec.multiplier is not None and spec.multiplier > 1:
            multipliers.append((spec.name, spec.multiplier))
        if spec.combine == Combine.STOP:
            break

    multiplier = getattr(facts.perks, "earning_multiplier", None)
    if multiplier is not None and Decimal(multiplier) > 1 and total > 0:
        extra = _rounded(Decimal(total) * (Decimal(multiplier) - 1), Rounding.DOWN)
        tier_name = Why(gettext_noop("Tier %(tier)s"), {"tier": facts.tier_code or ""})
        multipliers.append((tier_name, Decimal(multiplier)))
        allocation = _spread(extra, range(size), alloc, size)
        parts.append(
            Part(
                rule_id=None,
                version_id=None,
                name=tier_name,
                points=extra,
                explanation=Why(
                    gettext_noop("×%(multiplier)s on %(points)s point(s), rounded down"),
                    {"multiplier": Decimal(multiplier).normalize(), "points": total},
                ),
                allocation=tuple(allocation),
            )
        )
        _add(alloc, allocation)
        total += extra
    stacked = None
    if len(multipliers) > 1:
        product = Decimal(1)
        for _name, factor in multipliers:
            product *= factor
        stacked = Stacking(names=[name for name, _factor in multipliers], multiplier=product)
    per_line = []
    if facts.has_lines:
        per_line = [
            LinePoints(
                position=index,
                sku=line.sku,
                points=alloc[index],
                parts=[(part.name, part.allocation[index]) for part in parts if part.allocation[index]],
            )
            for index, line in enumerate(facts.lines)
        ]
    return Simulation(points=total, parts=parts, skipped=skipped, stacked=stacked, lines=per_line)


# --- rules that stack -------------------------------------------------------------------------------


def _hours(spec: RuleSpec) -> frozenset[int]:
    if spec.hour_from is None or spec.hour_until is None:
        return frozenset(range(24))
    start, end = spec.hour_from, spec.hour_until
    return frozenset(h for h in range(24) if (start <= h < end if start < end else h >= start or h < end))


def _disjoint(a: frozenset[Any], b: frozenset[Any]) -> bool:
    """Two "any of" conditions (empty: any) that no purchase can meet together."""
    return bool(a) and bool(b) and not (a & b)


def overlap(a: RuleSpec, b: RuleSpec) -> frozenset[int] | None:
    """The days of the week (1–7) on which one purchase can meet both rules' conditions, or None when it
    never can: their validity periods, stores, card types, tiers, days, hours and top-up counts must meet.
    Conditions on the member (birthday, invoice total) are taken as possibly met together."""
    if a.valid_until is not None and b.valid_from is not None and a.valid_until <= b.valid_from:
        return None
    if b.valid_until is not None and a.valid_from is not None and b.valid_until <= a.valid_from:
        return None
    tiers_a = frozenset(c.casefold() for c in a.tier_codes)
    tiers_b = frozenset(c.casefold() for c in b.tier_codes)
    if (
        _disjoint(a.store_ids, b.store_ids)
        or _disjoint(a.card_type_ids, b.card_type_ids)
        or _disjoint(tiers_a, tiers_b)
        or not (_hours(a) & _hours(b))
    ):
        return None
    low = max(a.min_top_ups or 0, b.min_top_ups or 0)
    highs = [n for n in (a.max_top_ups, b.max_top_ups) if n is not None]
    if highs and low > min(highs):
        return None
    days = (a.weekdays or frozenset(Weekday.values)) & (b.weekdays or frozenset(Weekday.values))
    return days or None


@dataclass(frozen=True)
class Days:
    """Days of the week as the reader says them ("Saturday, Sunday")."""

    days: frozenset[int]

    def __str__(self) -> str:
        return ", ".join(str(Weekday(day).label) for day in sorted(self.days))


def stacking_with(rule: RuleSpec, in_force: Sequence[RuleSpec]) -> list[Why]:
    """For a multiplier rule, a warning for each other multiplier of `in_force` (the rules in force, in
    the order they apply) that can apply to the same purchase: both multiply, so together they give
    their product (×2 and ×2: ×4). The earlier of the two stopping the rules after it keeps them apart."""
    if rule.effect != Effect.MULTIPLIER or rule.multiplier is None or rule.multiplier <= 1:
        return []
    order = {spec.rule_id: index for index, spec in enumerate(in_force)}
    warnings = []
    for other in in_force:
        if other.rule_id == rule.rule_id or other.effect != Effect.MULTIPLIER or other.multiplier is None:
            continue
        earlier = rule if order.get(rule.rule_id, len(order)) < order[other.rule_id] else other
        if other.multiplier <= 1 or earlier.combine == Combine.STOP:
            continue
        days = overlap(rule, other)
        if days is None:
            continue
        together = (rule.multiplier * other.multiplier).normalize()
        if days == frozenset(Weekday.values):
            text = gettext_noop(
                "This rule and “%(other)s” both multiply the same purchases: together ×%(multiplier)s"
            )
            warnings.append(Why(text, {"other": other.name, "multiplier": together}))
        else:
            text = gettext_noop(
                "This rule and “%(other)s” both multiply on %(days)s: together ×%(multiplier)s"
            )
            warnings.append(Why(text, {"other": other.name, "days": Days(days), "multiplier": together}))
    return warnings
