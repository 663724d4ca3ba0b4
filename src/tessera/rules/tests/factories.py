"""Earning rules for tests, saved through the service so each has its first version."""

from __future__ import annotations

from typing import Any

from tessera.rules import services
from tessera.rules.models import EarningRule
from tessera.tenancy.models import Merchant


def make_rule(merchant: Merchant, name: str, **fields: Any) -> EarningRule:
    """A rule of `merchant`; by default 1 point per 10,000 (VND), added, priority 100."""
    fields.setdefault("effect", "per_amount")
    if fields["effect"] == "per_amount":
        fields.setdefault("points", 1)
        fields.setdefault("per_amount", 10000)
    return services.save_rule(rule=EarningRule(merchant=merchant, name=name, **fields), actor=None)


def edit_rule(rule: EarningRule, **fields: Any) -> EarningRule:
    rule = EarningRule.objects.get(pk=rule.pk)
    for name, value in fields.items():
        setattr(rule, name, value)
    return services.save_rule(rule=rule, actor=None)
