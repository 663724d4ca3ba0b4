"""Earning formulas (E5): a merchant types an expression over named variables; it is evaluated safely.

Only the variables in `VARIABLES` and the functions min, max, floor, ceil and round exist. Arithmetic
is decimal, never binary floating point: number literals and `/` give exact decimals. The result is
rounded down to whole points and must lie in 0..MAX_POINTS. A formula is checked when it is saved
(`check`, the reason is shown); if it still fails on a real sale (say, a division by zero), the rule
gives 0 points and says why (`evaluate` raises `FormulaError`, the simulator turns it into 0).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simpleeval import InvalidExpression, SimpleEval

from tessera.rules.models import MAX_POINTS

MAX_LENGTH = 500
MAX_EXPONENT = 12

#: The names a formula may use, with what they mean (shown in the back office).
VARIABLES: dict[str, Promise] = {
    "amount": gettext_lazy("amount that earns points, in minor units (after discount and points paid)"),
    "total": gettext_lazy("invoice total, in minor units"),
    "items": gettext_lazy("number of items in the basket"),
    "top_ups": gettext_lazy("number of stored-value top-ups of the member so far"),
    "is_birthday": gettext_lazy("1 on the member's birthday, else 0"),
    "weekday": gettext_lazy("day of the week in the store, 1 = Monday … 7 = Sunday"),
    "hour": gettext_lazy("hour of the day in the store, 0–23"),
    "day": gettext_lazy("day of the month in the store, 1–31"),
    "month": gettext_lazy("month in the store, 1–12"),
    "tier": gettext_lazy('the member\'s tier code as written in the tier, e.g. "gold" ("" without a tier)'),
    "points": gettext_lazy("points given by the rules before this one"),
    "flat_points": gettext_lazy("points at the merchant's flat rate"),
}

#: Values used to try a formula when it is saved.
SAMPLE: dict[str, Any] = {
    "amount": 150000,
    "total": 150000,
    "items": 3,
    "top_ups": 2,
    "is_birthday": 1,
    "weekday": 3,
    "hour": 12,
    "day": 15,
    "month": 6,
    "tier": "GOLD",
    "points": 15,
    "flat_points": 15,
}


class FormulaError(Exception):
    """Why a formula cannot be used or computed; the message is translated."""


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _round(value: Any, digits: int = 0) -> Decimal:
    return _dec(value).quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise FormulaError(_("Powers above %(max)s are not allowed.") % {"max": MAX_EXPONENT})
    return base**exponent


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "floor": math.floor,
    "ceil": math.ceil,
    "round": _round,
}

OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: lambda a, b: _dec(a) / _dec(b),
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _power,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.LtE: operator.le,
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}

_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.And,
    ast.Or,
    *OPERATORS,
)


class _Evaluator(SimpleEval):
    """simpleeval with decimal literals."""

    @staticmethod
    def _eval_constant(node: ast.Constant) -> Any:
        if isinstance(node.value, float):
            return Decimal(repr(node.value))
        return SimpleEval._eval_constant(node)


def check(formula: str) -> None:
    """Raise FormulaError unless `formula` parses, uses only known names, and computes on sample values."""
    text = formula.strip()
    if not text:
        raise FormulaError(_("The formula is empty."))
    if len(text) > MAX_LENGTH:
        raise FormulaError(_("The formula is longer than %(max)s characters.") % {"max": MAX_LENGTH})
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(_("Syntax error at character %(offset)s.") % {"offset": exc.offset or 0}) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise FormulaError(
                _("“%(what)s” is not allowed in a formula.")
                % {"what": ast.get_source_segment(text, node) or ""}
            )
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise FormulaError(
                _("Unknown function “%(name)s”; use %(functions)s.")
                % {"name": ast.get_source_segment(text, node.func), "functions": ", ".join(FUNCTIONS)}
            )
        if isinstance(node, ast.Call) and node.keywords:
            raise FormulaError(_("Functions take plain arguments, not name=value."))
        if isinstance(node, ast.Name) and node.id not in (*VARIABLES, *FUNCTIONS, "True", "False"):
            raise FormulaError(
                _("Unknown name “%(name)s”; use %(names)s.")
                % {"name": node.id, "names": ", ".join(VARIABLES)}
            )
        short_text = isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 20
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)) and not short_text:
            raise FormulaError(_("Only numbers and short texts (tier codes) can be written in a formula."))
    evaluate(text, SAMPLE)


def evaluate(formula: str, variables: Mapping[str, Any]) -> int:
    """The formula's value for these variables, rounded down; FormulaError if it cannot be computed."""
    names = {"True": True, "False": False, **variables}
    evaluator = _Evaluator(operators=OPERATORS, functions=FUNCTIONS, names=names)
    try:
        value = evaluator.eval(formula.strip())
    except FormulaError:
        raise
    except ZeroDivisionError:
        raise FormulaError(_("Division by zero.")) from None
    except (InvalidExpression, InvalidOperation, ArithmeticError, TypeError, ValueError) as exc:
        raise FormulaError(_("It cannot be computed: %(error)s") % {"error": exc}) from None
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (int, Decimal)):
        raise FormulaError(_("The result is not a number."))
    points = int(_dec(value).to_integral_value(rounding=ROUND_FLOOR))
    if points < 0:
        raise FormulaError(_("The result is negative (%(value)s).") % {"value": points})
    if points > MAX_POINTS:
        raise FormulaError(_("The result is above %(max)s points.") % {"max": f"{MAX_POINTS:,}"})
    return points
