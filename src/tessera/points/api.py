"""The points policy in the management API (issue 17): read it, change it with If-Match.

The change goes through the back office's form (`PolicyForm`) and `services.save_policy`, so the API
refuses what the page refuses, with the same messages, and the history names the key.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpResponse
from ninja import Router
from pydantic import ConfigDict

from tessera.core.api_forms import bound_form, valid_or_refuse
from tessera.core.etag import tagged
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.points import services
from tessera.points.admin import PolicyForm
from tessera.points.models import ExpiryKind, Policy
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match
from tessera.tenancy.models import Merchant, Scope

router = Router(tags=["points policy"], auth=ApiKeyAuth(Scope.ADMIN))


class PolicyOut(Schema):
    earn_points: Decimal
    earn_per_amount: int
    point_value: Decimal
    pending_days: int
    expiry: ExpiryKind
    expiry_period: int
    round_to_month_end: bool
    reset_month: int
    reset_day: int
    notice_days: int


class PolicyPatch(Schema):
    """The fields to change; the others stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"earn_points": "1", "earn_per_amount": 10000, "expiry": "months", "expiry_period": 12}
            ]
        }
    )

    earn_points: Decimal | None = None
    earn_per_amount: int | None = None
    point_value: Decimal | None = None
    pending_days: int | None = None
    expiry: ExpiryKind | None = None
    expiry_period: int | None = None
    round_to_month_end: bool | None = None
    reset_month: int | None = None
    reset_day: int | None = None
    notice_days: int | None = None


def _policy(merchant: Merchant, *, locked: bool = False) -> Policy:
    """The policy as stored (created with defaults on first use): decimals as the database holds them,
    so the ETag of a read and of the check before a change agree."""
    Policy.for_merchant(merchant)
    rows = Policy.objects.select_for_update() if locked else Policy.objects.all()
    return rows.get(merchant=merchant)


@router.get(
    "", response={200: PolicyOut, **ERRORS}, operation_id="getPointsPolicy", summary="The points policy"
)
def get_policy(request: ApiRequest, response: HttpResponse) -> PolicyOut:
    """How points are earned, what one is worth and when they expire. `ETag` names this version."""
    shown = PolicyOut.from_orm(_policy(request.auth.merchant))
    tagged(response, shown)
    return shown


@router.patch(
    "",
    response={200: PolicyOut, **CHANGE_ERRORS},
    operation_id="updatePointsPolicy",
    summary="Change the points policy",
)
def update_policy(request: ApiRequest, data: PolicyPatch, response: HttpResponse) -> PolicyOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). A change applies
    to points earned from now on. Refusals: 422 `invalid_points_policy`, with `errors` per field."""
    merchant = request.auth.merchant

    def save(policy: Policy) -> PolicyOut:
        form = bound_form(PolicyForm, instance=policy, changes=data.dict(exclude_unset=True))
        fields = valid_or_refuse(form, code="invalid_points_policy")
        services.save_policy(merchant=merchant, actor=request.auth.key, **fields)
        return PolicyOut.from_orm(_policy(merchant))

    return change_if_match(
        request, response, locked=lambda: _policy(merchant, locked=True), shown=PolicyOut.from_orm, save=save
    )
