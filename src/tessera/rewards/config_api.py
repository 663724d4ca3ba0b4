"""Occasion discounts (issue 15 §3), bonus rules for points without a purchase (issue 15 §5) and top-up
bonus rules (E6) in the management API (issue 17): listed, read, created, changed with If-Match,
archived (never deleted: sales, grants and top-ups refer to them).

Through the back office's forms (`OccasionDiscountForm`, `BonusRuleForm`, `TopUpBonusRuleForm`) and
services (`services.save_occasion_discount`, `bonuses.save_bonus_rule`, `services.save_top_up_bonus_rule`),
so the API refuses what the pages refuse, with the same messages, and the history names the key.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet, Sum
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router
from ninja.pagination import paginate
from pydantic import ConfigDict

from tessera.core.api_forms import bound_form, for_api, one_of, valid_or_refuse
from tessera.core.errors import NotFound
from tessera.core.etag import tagged
from tessera.core.idempotency import key_header
from tessera.core.limits import Id, IsoDate, IsoDateTime, Whole
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.rewards import bonuses, services
from tessera.rewards.admin import BonusRuleForm, OccasionDiscountForm, TopUpBonusRuleForm
from tessera.rewards.models import BonusRule, OccasionDiscount, TopUpBonusRule
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, change_once
from tessera.tenancy.models import Scope

occasions_router = Router(tags=["occasion discounts"], auth=ApiKeyAuth(Scope.ADMIN))
bonus_rules_router = Router(tags=["bonus rules"], auth=ApiKeyAuth(Scope.ADMIN))
top_up_rules_router = Router(tags=["bonus rules"], auth=ApiKeyAuth(Scope.ADMIN))

_ARCHIVE = {"is_active": False}

# --- occasion discounts (issue 15 §3) -------------------------------------------------------------------

OccasionKindName = Literal["birthday", "anniversary", "date_range", "weekday"]
PeriodName = Literal["day", "week", "month"]
StackingName = Literal["best_of", "add", "only_one"]


class OccasionOut(Schema):
    id: int
    name: str
    kind: OccasionKindName
    period: PeriodName = Field(description="Birthday and anniversary: the day, its week or its month.")
    weekdays: list[int] = Field(description="Weekday discount: days of the week, 1 (Monday) to 7.")
    starts_on: date | None = Field(description="First day it may apply (a date range's first day).")
    ends_on: date | None = Field(description="Last day it may apply, included.")
    percent: Decimal
    max_discount: int | None = Field(description="Largest discount per sale, minor units; null: no cap.")
    max_uses: int | None = Field(description="Confirmed sales per member per occasion; null: no limit.")
    stacking: StackingName = Field(description="Against the tier discount: best_of, add or only_one.")
    is_active: bool = Field(description="False: archived, no longer applied.")


class OccasionIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Birthday month",
                    "kind": "birthday",
                    "period": "month",
                    "percent": "10",
                    "max_discount": 200000,
                    "max_uses": 1,
                    "stacking": "best_of",
                }
            ]
        }
    )

    name: str | None = None
    kind: OccasionKindName | None = None
    period: PeriodName | None = None
    weekdays: list[Whole] | None = Field(None, max_length=7)
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None
    percent: Decimal | None = None
    max_discount: Whole | None = None
    max_uses: Whole | None = None
    stacking: StackingName | None = None
    is_active: bool | None = None

    def changes(self) -> dict[str, Any]:
        """As the form reads them: weekdays are the digits checked."""
        changes = self.dict(exclude_unset=True)
        if changes.get("weekdays") is not None:
            changes["weekdays"] = [str(day) for day in changes["weekdays"]]
        return changes


def _occasion_out(occasion: OccasionDiscount) -> OccasionOut:
    """A just-saved occasion, read back: its decimals as the database holds them."""
    return _shown_occasion(OccasionDiscount.objects.get(pk=occasion.pk))


def _shown_occasion(stored: OccasionDiscount) -> OccasionOut:
    """`stored` as read from the database."""
    return OccasionOut(
        **{name: getattr(stored, name) for name in OccasionOut.model_fields if name != "weekdays"},
        weekdays=[int(day) for day in stored.weekdays],
    )


def _occasion(ctx: ApiContext, occasion_id: int, *, locked: bool = False) -> OccasionDiscount:
    missing = NotFound(_("No such occasion discount."), code="occasion_discount_not_found")
    return one_of(OccasionDiscount.objects.of(ctx.merchant), occasion_id, missing=missing, lock=locked)


def _save_occasion(ctx: ApiContext, occasion: OccasionDiscount, changes: dict[str, Any]) -> OccasionOut:
    form_class = for_api(OccasionDiscountForm, currency=ctx.merchant.currency)
    form = bound_form(form_class, instance=occasion, changes=changes)
    valid_or_refuse(form, code="invalid_occasion_discount")
    return _occasion_out(services.save_occasion_discount(occasion=form.instance, actor=ctx.key))


@occasions_router.get(
    "",
    response={200: list[OccasionOut], **ERRORS},
    operation_id="listOccasionDiscounts",
    summary="List the occasion discounts",
)
@paginate(Page)
def list_occasions(request: ApiRequest) -> Any:
    """Archived ones included (`is_active` false), first configured first (the order a tie is broken)."""
    return [_shown_occasion(row) for row in OccasionDiscount.objects.of(request.auth.merchant).order_by("pk")]


@occasions_router.get(
    "/{occasion_id}",
    response={200: OccasionOut, **ERRORS},
    operation_id="getOccasionDiscount",
    summary="An occasion discount",
)
def get_occasion(request: ApiRequest, occasion_id: Id, response: HttpResponse) -> OccasionOut:
    shown = _shown_occasion(_occasion(request.auth, occasion_id))
    tagged(response, shown)
    return shown


@occasions_router.post(
    "",
    response={201: OccasionOut, **ERRORS},
    operation_id="createOccasionDiscount",
    summary="Create an occasion discount",
)
def create_occasion(
    request: ApiRequest, data: OccasionIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """A percentage off a sale on the member's birthday or membership anniversary (the day, its week
    or its month), in a date range or on chosen weekdays, in the store's zone; quoted from the tills'
    next request (422 `invalid_occasion_discount`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_occasion(ctx, OccasionDiscount(merchant=ctx.merchant), data.changes()),
    )


@occasions_router.patch(
    "/{occasion_id}",
    response={200: OccasionOut, **CHANGE_ERRORS},
    operation_id="updateOccasionDiscount",
    summary="Change an occasion discount",
)
def update_occasion(
    request: ApiRequest, occasion_id: Id, data: OccasionIn, response: HttpResponse
) -> OccasionOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). Uses already
    counted are kept."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _occasion(ctx, occasion_id, locked=True),
        shown=_shown_occasion,
        save=lambda occasion: _save_occasion(ctx, occasion, data.changes()),
    )


@occasions_router.post(
    "/{occasion_id}/archive",
    response={200: OccasionOut, **ERRORS},
    operation_id="archiveOccasionDiscount",
    summary="Archive an occasion discount",
)
def archive_occasion(
    request: ApiRequest, occasion_id: Id, idempotency_key: str = key_header()
) -> HttpResponse:
    """No longer applied; never deleted, as sales refer to it."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_occasion(ctx, _occasion(ctx, occasion_id, locked=True), _ARCHIVE),
    )


# --- bonus rules: points without a purchase (issue 15 §5) -----------------------------------------------

BonusKindName = Literal["sign_up", "first_purchase", "profile_completed", "referral", "event"]
ProfileField = Literal["full_name", "email", "birthday", "gender", "address", "region", "occupation"]


class BonusRuleOut(Schema):
    id: int
    name: str
    kind: BonusKindName
    event_type: str = Field(description="A custom event's type, as `POST /events` sends it; else empty.")
    points: int = Field(description="To the member concerned.")
    referrer_points: int = Field(description="Referral only: to the member whose code was used.")
    min_amount: int = Field(description="First purchase and referral: the purchase's least amount.")
    profile_fields: list[ProfileField] = Field(
        description="Profile completed: the fields required; empty: name, email, birthday and gender."
    )
    per_day: int | None
    per_week: int | None
    per_month: int | None
    per_member: int | None = Field(description="Grants to one member in all; null: no limit.")
    budget: int | None = Field(description="Points the rule may give in all; null: no budget.")
    budget_given: int = Field(description="Points given against the budget so far (taken back ones not).")
    valid_from: datetime | None
    valid_until: datetime | None
    is_active: bool = Field(description="False: archived, gives nothing more.")


class BonusRuleIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Welcome", "kind": "sign_up", "points": 50},
                {"name": "App installed", "kind": "event", "event_type": "app_installed", "points": 20},
            ]
        }
    )

    name: str | None = None
    kind: BonusKindName | None = None
    event_type: str | None = None
    points: Whole | None = None
    referrer_points: Whole | None = None
    min_amount: Whole | None = None
    profile_fields: list[str] | None = Field(None, max_length=20)
    per_day: Whole | None = None
    per_week: Whole | None = None
    per_month: Whole | None = None
    per_member: Whole | None = None
    budget: Whole | None = None
    valid_from: IsoDateTime | None = None
    valid_until: IsoDateTime | None = None
    is_active: bool | None = None


def _with_given(rules: QuerySet[BonusRule]) -> QuerySet[BonusRule]:
    return rules.annotate(given=Sum("shards__given"))


def _bonus_rule_out(rule: BonusRule) -> BonusRuleOut:
    stored = _with_given(BonusRule.objects.filter(pk=rule.pk)).get()
    return _shown_bonus_rule(stored)


def _shown_bonus_rule(rule: BonusRule) -> BonusRuleOut:
    """`rule` read with `_with_given`."""
    fields = {name: getattr(rule, name) for name in BonusRuleOut.model_fields if name != "budget_given"}
    return BonusRuleOut(**fields, budget_given=rule.given or 0)  # type: ignore[attr-defined]


def _bonus_rule(ctx: ApiContext, rule_id: int, *, locked: bool = False) -> BonusRule:
    missing = NotFound(_("No such bonus rule."), code="bonus_rule_not_found")
    return one_of(BonusRule.objects.of(ctx.merchant), rule_id, missing=missing, lock=locked)


def _save_bonus_rule(ctx: ApiContext, rule: BonusRule, changes: dict[str, Any]) -> BonusRuleOut:
    form = bound_form(BonusRuleForm, instance=rule, changes=changes)
    valid_or_refuse(form, code="invalid_bonus_rule")
    return _bonus_rule_out(bonuses.save_bonus_rule(rule=form.instance, actor=ctx.key))


@bonus_rules_router.get(
    "",
    response={200: list[BonusRuleOut], **ERRORS},
    operation_id="listBonusRules",
    summary="List the bonus rules",
)
@paginate(Page)
def list_bonus_rules(request: ApiRequest) -> Any:
    """Archived ones included (`is_active` false), by kind."""
    rules = _with_given(BonusRule.objects.of(request.auth.merchant)).order_by("kind", "pk")
    return [_shown_bonus_rule(rule) for rule in rules]


@bonus_rules_router.get(
    "/{rule_id}",
    response={200: BonusRuleOut, **ERRORS},
    operation_id="getBonusRule",
    summary="A bonus rule",
)
def get_bonus_rule(request: ApiRequest, rule_id: Id, response: HttpResponse) -> BonusRuleOut:
    shown = _bonus_rule_out(_bonus_rule(request.auth, rule_id))
    tagged(response, shown)
    return shown


@bonus_rules_router.post(
    "",
    response={201: BonusRuleOut, **ERRORS},
    operation_id="createBonusRule",
    summary="Create a bonus rule",
)
def create_bonus_rule(
    request: ApiRequest, data: BonusRuleIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Points for signing up, a first purchase, a completed profile, a referral or a custom event (`POST
    /events`), with limits per member and a budget (422 `invalid_bonus_rule`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_bonus_rule(ctx, BonusRule(merchant=ctx.merchant), data.dict(exclude_unset=True)),
    )


@bonus_rules_router.patch(
    "/{rule_id}",
    response={200: BonusRuleOut, **CHANGE_ERRORS},
    operation_id="updateBonusRule",
    summary="Change a bonus rule",
)
def update_bonus_rule(
    request: ApiRequest, rule_id: Id, data: BonusRuleIn, response: HttpResponse
) -> BonusRuleOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since, points given
    against its budget included). A new budget keeps what was given."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _bonus_rule(ctx, rule_id, locked=True),
        shown=_bonus_rule_out,
        save=lambda rule: _save_bonus_rule(ctx, rule, data.dict(exclude_unset=True)),
    )


@bonus_rules_router.post(
    "/{rule_id}/archive",
    response={200: BonusRuleOut, **ERRORS},
    operation_id="archiveBonusRule",
    summary="Archive a bonus rule",
)
def archive_bonus_rule(request: ApiRequest, rule_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """It gives nothing more; never deleted: what it gave is still taken back on a void or refund."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_bonus_rule(ctx, _bonus_rule(ctx, rule_id, locked=True), _ARCHIVE),
    )


# --- top-up bonus rules (E6) ------------------------------------------------------------------------------


class TopUpRuleOut(Schema):
    id: int
    name: str
    min_amount: int = Field(description="The least top-up, minor units.")
    bonus_points: int
    bonus_value: int = Field(description="Stored value added to the card, minor units.")
    valid_from: datetime | None
    valid_until: datetime | None
    is_active: bool = Field(description="False: archived, gives nothing more.")


class TopUpRuleIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Top up 1,000,000", "min_amount": 1000000, "bonus_value": 100000}]
        }
    )

    name: str | None = None
    min_amount: Whole | None = None
    bonus_points: Whole | None = None
    bonus_value: Whole | None = None
    valid_from: IsoDateTime | None = None
    valid_until: IsoDateTime | None = None
    is_active: bool | None = None


def _top_up_rule(ctx: ApiContext, rule_id: int, *, locked: bool = False) -> TopUpBonusRule:
    missing = NotFound(_("No such top-up bonus rule."), code="top_up_rule_not_found")
    return one_of(TopUpBonusRule.objects.of(ctx.merchant), rule_id, missing=missing, lock=locked)


def _save_top_up_rule(ctx: ApiContext, rule: TopUpBonusRule, changes: dict[str, Any]) -> TopUpRuleOut:
    form = bound_form(TopUpBonusRuleForm, instance=rule, changes=changes)
    valid_or_refuse(form, code="invalid_top_up_rule")
    saved = services.save_top_up_bonus_rule(rule=form.instance, actor=ctx.key)
    return TopUpRuleOut.from_orm(TopUpBonusRule.objects.get(pk=saved.pk))  # times as stored


@top_up_rules_router.get(
    "",
    response={200: list[TopUpRuleOut], **ERRORS},
    operation_id="listTopUpBonusRules",
    summary="List the top-up bonus rules",
)
@paginate(Page)
def list_top_up_rules(request: ApiRequest) -> Any:
    """Archived ones included (`is_active` false), highest minimum first: a top-up gets the bonus of the
    highest minimum it reaches."""
    return TopUpBonusRule.objects.of(request.auth.merchant).order_by("-min_amount", "-pk")


@top_up_rules_router.get(
    "/{rule_id}",
    response={200: TopUpRuleOut, **ERRORS},
    operation_id="getTopUpBonusRule",
    summary="A top-up bonus rule",
)
def get_top_up_rule(request: ApiRequest, rule_id: Id, response: HttpResponse) -> TopUpRuleOut:
    shown = TopUpRuleOut.from_orm(_top_up_rule(request.auth, rule_id))
    tagged(response, shown)
    return shown


@top_up_rules_router.post(
    "",
    response={201: TopUpRuleOut, **ERRORS},
    operation_id="createTopUpBonusRule",
    summary="Create a top-up bonus rule",
)
def create_top_up_rule(
    request: ApiRequest, data: TopUpRuleIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Points and/or stored value for topping a card up with at least `min_amount` (422
    `invalid_top_up_rule`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_top_up_rule(
            ctx, TopUpBonusRule(merchant=ctx.merchant), data.dict(exclude_unset=True)
        ),
    )


@top_up_rules_router.patch(
    "/{rule_id}",
    response={200: TopUpRuleOut, **CHANGE_ERRORS},
    operation_id="updateTopUpBonusRule",
    summary="Change a top-up bonus rule",
)
def update_top_up_rule(
    request: ApiRequest, rule_id: Id, data: TopUpRuleIn, response: HttpResponse
) -> TopUpRuleOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since)."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _top_up_rule(ctx, rule_id, locked=True),
        shown=TopUpRuleOut.from_orm,
        save=lambda rule: _save_top_up_rule(ctx, rule, data.dict(exclude_unset=True)),
    )


@top_up_rules_router.post(
    "/{rule_id}/archive",
    response={200: TopUpRuleOut, **ERRORS},
    operation_id="archiveTopUpBonusRule",
    summary="Archive a top-up bonus rule",
)
def archive_top_up_rule(
    request: ApiRequest, rule_id: Id, idempotency_key: str = key_header()
) -> HttpResponse:
    """It gives nothing more; never deleted, as top-ups refer to it."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save_top_up_rule(ctx, _top_up_rule(ctx, rule_id, locked=True), _ARCHIVE),
    )
