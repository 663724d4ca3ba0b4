"""Sale lines as the earning rules see them (issue 15 §4): which lines a rule counts, the multipliers
per product, and how a part of the points is shared out among lines.

A line has a SKU, a category and labels (key → value). A rule counts the lines that are not on the
merchant's list of SKUs that earn nothing (`points.Policy.non_earning_skus`), that match one of its
"only" conditions when it has any (a SKU, a category or a `key:value` label of the lists), and that
match none of its "except" conditions.

`apportion` shares a whole number of points among lines by weights (their amounts, or the points they
already have) by the largest remainder: each line gets floor(points × weight ÷ total weight), and the
points left over go one each to the lines with the largest remainders, the earlier line first on a tie.
The shares add up to the points exactly, and the same inputs always give the same shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.utils.translation import gettext as _

#: What a multiplier per product matches.
MATCHES = ("sku", "category", "label")


class ProductLine(Protocol):
    @property
    def sku(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


def has_label(line: ProductLine, label: str) -> bool:
    """`label` is "key:value": the line has that key with that value."""
    key, _sep, value = label.partition(":")
    labels = line.labels or {}
    return key in labels and labels[key] == value


def matches(
    line: ProductLine, *, skus: frozenset[str], categories: frozenset[str], labels: frozenset[str]
) -> bool:
    """The line is one of these SKUs, in one of these categories, or has one of these labels."""
    return (
        (bool(line.sku) and line.sku in skus)
        or (bool(line.category) and line.category in categories)
        or any(has_label(line, label) for label in labels)
    )


@dataclass(frozen=True)
class LineMultiplier:
    """×`factor` on a line's points when it matches: `match` is sku, category or label (`key:value`)."""

    match: str
    value: str
    factor: Decimal

    def applies_to(self, line: ProductLine) -> bool:
        if self.match == "sku":
            return line.sku == self.value
        if self.match == "category":
            return line.category == self.value
        return has_label(line, self.value)

    def stored(self) -> dict[str, str]:
        return {"match": self.match, "value": self.value, "factor": str(self.factor.normalize())}

    def __str__(self) -> str:
        return f"{self.match}:{self.value} = {self.factor.normalize()}"


class MultiplierError(ValueError):
    """Why a multiplier per product cannot be read (translated)."""


def multiplier_of(data: Any) -> LineMultiplier:
    """A stored multiplier (`LineMultiplier.stored()`) read back and checked."""
    if not isinstance(data, dict):
        raise MultiplierError(_("A multiplier is written match:value = factor."))
    match, value = str(data.get("match", "")), str(data.get("value", "")).strip()
    if match not in MATCHES:
        raise MultiplierError(_("A multiplier matches a sku, a category or a label."))
    if not value or len(value) > 129 or (match == "label" and ":" not in value):
        raise MultiplierError(_("“%(value)s” cannot be matched.") % {"value": value})
    try:
        factor = Decimal(str(data.get("factor")))
    except InvalidOperation:
        raise MultiplierError(_("“%(factor)s” is not a number.") % {"factor": data.get("factor")}) from None
    if not factor.is_finite() or factor < 1 or factor > 1000:
        raise MultiplierError(_("A factor is between 1 and 1000."))
    return LineMultiplier(match=match, value=value, factor=factor)


def parse_multipliers(text: str) -> list[dict[str, str]]:
    """Multipliers as staff type them, one per line: `sku:ABC = 2`, `category:hair = 1.5`,
    `label:brand:loreal = 3`. Raises MultiplierError with the line at fault."""
    found: list[dict[str, str]] = []
    for row in text.splitlines():
        if not row.strip():
            continue
        target, sep, factor = row.rpartition("=")
        match, _colon, value = target.strip().partition(":")
        if not sep:
            raise MultiplierError(_("“%(row)s”: write match:value = factor.") % {"row": row.strip()})
        found.append(
            multiplier_of({"match": match.strip(), "value": value.strip(), "factor": factor.strip()}).stored()
        )
    return found


def best_factor(line: ProductLine, multipliers: Sequence[LineMultiplier]) -> LineMultiplier | None:
    """The largest multiplier that matches the line (multipliers of one rule do not multiply each other)."""
    found = [m for m in multipliers if m.applies_to(line)]
    return max(found, key=lambda m: m.factor) if found else None


def apportion(points: int, weights: Sequence[int]) -> list[int]:
    """`points` shared by `weights` by the largest remainder (see the module); equal weights when they
    are all zero."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [points * weight // whole for weight in weights]
    left = points - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(points * weights[i] % whole), i))
    for index in by_remainder[:left]:
        shares[index] += 1
    return shares


def share_taken_back(points: int, quantity: int, before: int, returned: int) -> int:
    """The points of a line (`points` for its `quantity` units) a return of `returned` more units takes
    back, `before` units having been returned already: floor(points × units returned ÷ quantity) after,
    less the same before. Returns of every unit in any steps add up to `points` exactly."""
    if quantity <= 0:
        return 0
    after = min(before + returned, quantity)
    return points * after // quantity - points * before // quantity
