"""Writes of the points policy: one function, one transaction (issue 13 item 1, issue 15 §1)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from tessera.core.errors import ValidationFailed
from tessera.points.models import Policy
from tessera.tenancy.models import Merchant
from tessera.tenancy.permissions import authorise, is_user

#: What `save_policy` may change: how points are earned and valued, and when they expire.
EARNING_FIELDS = ("earn_points", "earn_per_amount", "point_value", "pending_days", "non_earning_skus")
EXPIRY_FIELDS = ("expiry", "expiry_period", "round_to_month_end", "reset_month", "reset_day", "notice_days")
FIELDS = EARNING_FIELDS + EXPIRY_FIELDS


@transaction.atomic
def save_policy(*, merchant: Merchant, actor: Any = None, **fields: Any) -> Policy:
    """Change the merchant's points policy. The change applies to points earned from now on: lots
    already written keep their dates. Saving renews the merchant's cached configuration."""
    authorise(actor, "points.change_policy", merchant=merchant)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"not fields of the points policy: {sorted(unknown)}")
    if "non_earning_skus" in fields:
        fields["non_earning_skus"] = sorted(
            {str(sku).strip() for sku in fields["non_earning_skus"] or ()} - {""}
        )
    locked = Policy.objects.select_for_update().filter(merchant=merchant).first()
    policy: Policy = locked or Policy.for_merchant(merchant)
    for name, value in fields.items():
        setattr(policy, name, value)
    try:
        policy.full_clean()
    except ValidationError as error:
        raise ValidationFailed("; ".join(error.messages), code="invalid_points_policy") from error
    policy.stamp(actor)
    if is_user(actor):
        policy._history_user = actor  # type: ignore[attr-defined]
    policy.save()
    return policy
