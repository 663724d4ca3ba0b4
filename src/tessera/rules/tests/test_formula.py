"""E5 formulas: a whitelist of names and functions, decimal arithmetic, refused when saved with the reason."""

from __future__ import annotations

import pytest

from tessera.core.errors import ValidationFailed
from tessera.rules import formula
from tessera.rules.models import EarningRule
from tessera.rules.tests.factories import make_rule

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("amount /", "Syntax error"),
        ("amount * bonus", "Unknown name “bonus”"),
        ("__import__('os').system('ls')", "Unknown function"),
        ("open('/etc/passwd')", "Unknown function “open”"),
        ("amount.real", "is not allowed"),
        ("[amount][0]", "is not allowed"),
        ("amount ** 100", "Powers above 12"),
        ("10 ** 12 * amount", "above 1,000,000,000"),
        ("0 - amount", "negative"),
        ("tier * 2 + amount", "cannot be computed"),
        ("", "empty"),
        ("x" * 501, "longer than 500"),
    ],
)
def test_e5_a_broken_formula_is_refused_with_the_reason(text, reason):
    with pytest.raises(formula.FormulaError, match=reason):
        formula.check(text)


@pytest.mark.parametrize(
    ("text", "variables", "points"),
    [
        ("amount / 10000", {"amount": 159999}, 15),
        ("round(amount / 10000)", {"amount": 155000}, 16),  # half up, not banker's rounding
        ("round(amount / 10000)", {"amount": 165000}, 17),
        ("ceil(amount / 10000)", {"amount": 150001}, 16),
        ("amount * 0.1 / 1000", {"amount": 150000}, 15),  # decimals, no float drift
        ("min(amount / 1000, 100) + 5 * top_ups", {"amount": 500000, "top_ups": 3}, 115),
        ("50 if tier == 'GOLD' and is_birthday else 0", {"tier": "GOLD", "is_birthday": 1}, 50),
        ("50 if tier == 'GOLD' and is_birthday else 0", {"tier": "", "is_birthday": 1}, 0),
        ("(weekday >= 6) * 10", {"weekday": 6}, 10),
    ],
)
def test_e5_formula_values(text, variables, points):
    assert formula.evaluate(text, {**formula.SAMPLE, **variables}) == points


def test_e5_a_rule_with_a_broken_formula_is_not_saved_and_says_why(merchant):
    with pytest.raises(ValidationFailed) as caught:
        make_rule(merchant, "Broken", effect="formula", formula="amount * bonus")

    assert caught.value.code == "invalid_formula"
    assert "Unknown name “bonus”" in str(caught.value)
    assert caught.value.detail["errors"]["formula"] == [str(caught.value)]
    assert not EarningRule.objects.of(merchant).exists()


def test_e5_effect_parameters_are_required(merchant):
    with pytest.raises(ValidationFailed) as caught:
        make_rule(merchant, "No multiplier", effect="multiplier")
    assert caught.value.code == "invalid_rule"
    assert "multiplier" in caught.value.detail["errors"]
