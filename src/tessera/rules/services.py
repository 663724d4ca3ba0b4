"""Every write of the earning rules app (E5): saving a rule writes a new immutable version.

A rule's current version is what the simulator evaluates; a sale stores the version ids it used
(`Transaction.earning_parts`), so the past keeps the rule as it was when the sale was made.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from tessera.cards.models import CardType
from tessera.core.errors import Conflict, ValidationFailed
from tessera.rules.models import EarningRule, EarningRuleVersion
from tessera.tenancy.models import ApiKey, Store
from tessera.tenancy.permissions import as_user, authorise

#: The fields a version keeps: everything that decides whether a rule applies and what it gives.
SNAPSHOT_FIELDS = (
    "name",
    "priority",
    "is_active",
    "valid_from",
    "valid_until",
    "store_ids",
    "card_type_ids",
    "tier_codes",
    "weekdays",
    "hour_from",
    "hour_until",
    "birthday_window",
    "min_total",
    "min_top_ups",
    "max_top_ups",
    "effect",
    "points",
    "per_amount",
    "multiplier",
    "rounding",
    "bonus_points",
    "formula",
    "combine",
    "include_skus",
    "include_categories",
    "include_labels",
    "exclude_skus",
    "exclude_categories",
    "exclude_labels",
    "min_quantity",
    "line_multipliers",
    "product_per",
)

#: The lists of SKUs, categories and labels that choose a rule's lines (issue 15 §4).
LINE_LISTS = (
    "include_skus",
    "include_categories",
    "include_labels",
    "exclude_skus",
    "exclude_categories",
    "exclude_labels",
)


def snapshot_of(rule: EarningRule) -> dict[str, Any]:
    """The rule as JSON: datetimes in ISO 8601, decimals as strings, id lists sorted."""
    data: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(rule, name)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif name in ("points", "multiplier") and value is not None:
            value = str(Decimal(value).quantize(Decimal("0.0001")))  # as the database stores it
        elif name == "line_multipliers":
            value = list(value or [])  # in the order staff wrote them
        elif isinstance(value, list):
            value = sorted(value)
        data[name] = value
    return data


def _normalise(rule: EarningRule) -> None:
    rule.name = rule.name.strip()
    rule.formula = rule.formula.strip()
    rule.tier_codes = sorted({str(code).strip() for code in rule.tier_codes or [] if str(code).strip()})
    rule.store_ids = sorted({int(pk) for pk in rule.store_ids or []})
    rule.card_type_ids = sorted({int(pk) for pk in rule.card_type_ids or []})
    rule.weekdays = sorted({int(day) for day in rule.weekdays or []})
    for name in LINE_LISTS:
        setattr(rule, name, sorted({str(item).strip() for item in getattr(rule, name) or []} - {""}))


def _check(rule: EarningRule) -> None:
    try:
        rule.full_clean(exclude=["merchant", "current_version"], validate_unique=False)
    except ValidationError as exc:
        errors = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        first = next(iter(errors.values()))[0]
        code = "invalid_formula" if "formula" in errors else "invalid_rule"
        raise ValidationFailed(first, code=code, errors=errors) from None
    merchant_id = rule.merchant_id
    if len(rule.store_ids) != Store.objects.of(merchant_id).filter(pk__in=rule.store_ids).count():
        raise ValidationFailed(_("Choose stores of this merchant."), code="invalid_rule", field="stores")
    if len(rule.card_type_ids) != CardType.objects.of(merchant_id).filter(pk__in=rule.card_type_ids).count():
        raise ValidationFailed(
            _("Choose card types of this merchant."), code="invalid_rule", field="card_types"
        )
    if EarningRule.objects.of(merchant_id).filter(name=rule.name).exclude(pk=rule.pk).exists():
        raise Conflict(_("Another rule already has this name."), code="duplicate_rule_name", field="name")


def check_rule(rule: EarningRule) -> None:
    """Raise ValidationFailed/Conflict unless `rule` (saved or not) can be saved as it is; writes nothing."""
    _normalise(rule)
    _check(rule)


@transaction.atomic
def save_rule(*, rule: EarningRule, actor: Any) -> EarningRule:
    """Create or change `rule` (an unsaved or edited instance) and write its next version. `actor` is a
    user, None for the system, or the API key of a change through the management API.

    Raises ValidationFailed (code `invalid_formula` with the reason, or `invalid_rule`) and changes
    nothing when the rule cannot be used.
    """
    adding = rule._state.adding or rule.pk is None
    authorise(
        actor,
        "rules.add_earningrule" if adding else "rules.change_earningrule",
        merchant=rule.merchant_id,
    )
    if not adding:
        # One editor at a time per rule, so version numbers never collide.
        EarningRule.objects.select_for_update().filter(pk=rule.pk, merchant_id=rule.merchant_id).get()
    check_rule(rule)
    rule.stamp(actor)
    rule.save()
    last = rule.versions.aggregate(last=Max("number"))["last"] or 0
    version = EarningRuleVersion(
        merchant_id=rule.merchant_id, rule=rule, number=last + 1, snapshot=snapshot_of(rule)
    )
    version.stamp(as_user(actor))
    if isinstance(actor, ApiKey):
        version.api_key = actor
    version.save()
    rule.current_version = version
    rule.save(update_fields=["current_version"])
    return rule
