"""Earning rules endpoints of the public API: the simulator (E5), and the rules themselves in the
management API (issue 17): listed, read, created, changed with If-Match, archived, and a draft simulated
before it is saved. Changes go through the back office's `EarningRuleForm` and `services.save_rule`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Router
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from tessera.cards.customers import CustomerIn, identify_cardholder
from tessera.core.api_forms import bound_form, for_api, valid_or_refuse
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.etag import tagged
from tessera.core.idempotency import ignored_key_header, key_header
from tessera.core.limits import MAX_LINES, Id, IsoDateTime, SaleAmount, Whole
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.rules import lines, selectors, services
from tessera.rules.admin import EarningRuleForm
from tessera.rules.models import (
    BirthdayWindow,
    Combine,
    EarningRule,
    EarningRuleVersion,
    Effect,
    ProductPer,
    Rounding,
)
from tessera.rules.purchase import simulate_purchase
from tessera.rules.schemas import (
    BonusLimitsOut,
    BonusOut,
    DiscountOut,
    EarningPartOut,
    LineIn,
    LinePartOut,
    LinePointsOut,
    OccasionSeenOut,
)
from tessera.rules.simulator import BasketItem
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, change_once
from tessera.tenancy.models import Scope

router = Router(tags=["rules"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))


class SimulateIn(CustomerIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "phone": "0903123456",
                    "store_code": "hanoi-1",
                    "amount": 150000,
                    "at": "2026-03-02T19:30:00+07:00",
                }
            ]
        }
    )

    store_code: str | None = Field(
        None, description="Required with a merchant-wide key; a store-bound key simulates in its own store."
    )
    amount: SaleAmount | None = Field(
        None,
        description="Minor units that earn points, as given. Omitted: the lines' total less the "
        "discounts (`amount_due`), as the quote earns.",
    )
    lines: list[LineIn] = Field(
        default_factory=list,
        max_length=MAX_LINES,
        description="Give the invoice total, the item count and the lines product rules count.",
    )
    at: IsoDateTime | None = Field(None, description="When the sale happens; now when omitted.")


class SkippedOut(Schema):
    rule_id: int
    name: str
    reason: str


class SimulationOut(Schema):
    points: int
    parts: list[EarningPartOut] = Field(description="Which rule gave which part of the points, and why.")
    skipped: list[SkippedOut] = Field(description="Rules in force that did not apply, and why not.")
    lines: list[LinePointsOut] = Field(
        description="Each line's points and the parts they came from (empty without lines)."
    )
    total_amount: int = Field(description="The lines' total (else `amount`): what the discounts are of.")
    discount_amount: int = Field(description="The sum of `discounts`, as the quote would apply it.")
    amount_due: int = Field(description="`total_amount` less `discount_amount`.")
    discounts: list[DiscountOut] = Field(
        description="The tier discount and at most one occasion discount, as their stacking decides "
        "(issue 15 §3): the quote's `discounts` for the same member, basket and moment."
    )
    occasions: list[OccasionSeenOut] = Field(
        description="Every active occasion discount: whether it applies on the sale's local date, its "
        "percent, cap and stacking against the tier discount, and why."
    )
    first_purchase: bool = Field(
        description="The member has no confirmed sale yet, and the merchant has purchase bonus rules."
    )
    bonuses: list[BonusOut] = Field(
        description="The first-purchase and referral bonuses in force, and what the sale's confirmation "
        "would give now (issue 15 §5), with each rule's limits."
    )


def _simulate(ctx: ApiContext, data: SimulateIn, draft: EarningRuleVersion | None = None) -> SimulationOut:
    customer = identify_cardholder(merchant=ctx.merchant, given=data)
    lines = [
        BasketItem(
            quantity=line.quantity,
            line_amount=line.total,
            sku=line.sku,
            category=line.category,
            labels=line.labels,
        )
        for line in data.lines
    ]
    store = ctx.acting_store(data.store_code)
    at = data.at or timezone.now()
    if timezone.is_naive(at):
        at = at.replace(tzinfo=store.tz)  # a time without an offset is the store's local time
    try:
        at.astimezone(UTC), at.astimezone(store.tz)
    except (OverflowError, ValueError):
        raise ValidationFailed(_("This date and time cannot be used."), code="invalid_time") from None
    result = simulate_purchase(
        merchant=ctx.merchant,
        amount=data.amount,
        lines=lines or None,
        member=customer.member,
        store=store,
        at=at,
        card=customer.card,
        draft=draft,
    )
    earned, view = result.points, result.purchase
    total = sum(line.line_amount for line in lines) if lines else (data.amount or 0)
    return SimulationOut(
        points=earned.points,
        parts=[EarningPartOut(**part.__dict__) for part in earned.parts],
        skipped=[SkippedOut(**skip.__dict__) for skip in earned.skipped],
        lines=[
            LinePointsOut(
                position=line.position,
                sku=line.sku,
                points=line.points,
                parts=[LinePartOut(name=str(name), points=points) for name, points in line.parts],
            )
            for line in earned.lines
        ],
        total_amount=view.total if view else total,
        discount_amount=view.discount_amount if view else 0,
        amount_due=view.amount_due if view else total,
        discounts=[
            DiscountOut(
                name=part.name,
                occasion_id=part.occasion_id,
                percent=part.percent,
                amount=part.amount,
                explanation=str(part.explanation),
            )
            for part in (view.discounts if view else [])
        ],
        occasions=[OccasionSeenOut(**seen.__dict__) for seen in (view.occasions if view else [])],
        first_purchase=view.first_purchase if view else False,
        bonuses=[
            BonusOut(**{**bonus.__dict__, "limits": BonusLimitsOut(**bonus.limits)})
            for bonus in (view.bonuses if view else [])
        ],
    )


@router.post(
    "/simulate", response={200: SimulationOut, **ERRORS}, summary="Points a sale would earn, and why"
)
def simulate_earning(
    request: ApiRequest, data: SimulateIn, idempotency_key: str | None = ignored_key_header()
) -> SimulationOut:
    """For an amount (or basket), a member, a store and a moment: the points the earning rules give and
    which rule gave which part ("why did I get 120 points"). Changes nothing (E5)."""
    return _simulate(request.auth, data)


# --- the earning rules in the management API (issue 17) ------------------------------------------------

manage_router = Router(tags=["earning rules"], auth=ApiKeyAuth(Scope.ADMIN))

_RULE_EXAMPLE: Any = {
    "name": "Double points on Tuesdays",
    "priority": 50,
    "days": [2],
    "effect": "multiplier",
    "multiplier": "2",
}


class RuleOut(Schema):
    id: int
    version: int | None = Field(description="The number of the rule's current version.")
    name: str
    priority: int
    is_active: bool
    combine: Combine
    valid_from: datetime | None
    valid_until: datetime | None
    stores: list[int] = Field(description="Store ids; empty: every store.")
    card_types: list[int] = Field(description="Card type ids; empty: any card, or none.")
    tiers: list[str] = Field(description="Tier codes; empty: any tier, or none.")
    days: list[int] = Field(description="Days of the week, 1 (Monday) to 7; empty: every day.")
    hour_from: int | None
    hour_until: int | None
    birthday_window: BirthdayWindow
    min_total: int | None
    min_top_ups: int | None
    max_top_ups: int | None
    effect: Effect
    points: Decimal | None
    per_amount: int | None
    rounding: Rounding
    multiplier: Decimal | None
    bonus_points: int | None
    formula: str
    include_skus: list[str] = Field(description="Only lines with these SKUs count; empty: any.")
    include_categories: list[str] = Field(description="Only lines of these categories; empty: any.")
    include_labels: list[str] = Field(description="Only lines with these `key:value` labels; empty: any.")
    exclude_skus: list[str]
    exclude_categories: list[str]
    exclude_labels: list[str]
    min_quantity: int | None = Field(description="Units of the rule's lines a sale needs.")
    product_per: ProductPer = Field(description="A product rule's points: per unit, or once per sale.")
    multipliers: list[str] = Field(
        description="Factors per product, `sku:CODE = 2`, `category:NAME = 1.5`, `label:key:value = 3`."
    )

    @staticmethod
    def of(rule: EarningRule) -> RuleOut:
        fields = {name: getattr(rule, name) for name in RuleOut.model_fields if hasattr(rule, name)}
        return RuleOut(
            **{
                **fields,
                "version": rule.current_version.number if rule.current_version else None,
                "stores": rule.store_ids,
                "card_types": rule.card_type_ids,
                "tiers": rule.tier_codes,
                "days": rule.weekdays,
                "multipliers": [str(lines.multiplier_of(item)) for item in rule.line_multipliers or []],
            }
        )


#: A list of SKUs, categories or labels: each is bounded by the form (as on the page).
_Texts = list[str] | None


class RuleIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(json_schema_extra={"examples": [_RULE_EXAMPLE]})

    name: str | None = None
    priority: Whole | None = None
    is_active: bool | None = None
    combine: Combine | None = None
    valid_from: IsoDateTime | None = None
    valid_until: IsoDateTime | None = None
    stores: list[Id] | None = Field(None, max_length=1000)
    card_types: list[Id] | None = Field(None, max_length=1000)
    tiers: list[str] | None = Field(None, max_length=100)
    days: list[Whole] | None = Field(None, max_length=7)
    hour_from: Whole | None = None
    hour_until: Whole | None = None
    birthday_window: BirthdayWindow | None = None
    min_total: Whole | None = None
    min_top_ups: Whole | None = None
    max_top_ups: Whole | None = None
    effect: Effect | None = None
    points: Decimal | None = None
    per_amount: Whole | None = None
    rounding: Rounding | None = None
    multiplier: Decimal | None = None
    bonus_points: Whole | None = None
    formula: str | None = None
    # Which lines the rule counts, and per-product effects (issue 15 §4).
    include_skus: _Texts = Field(None, max_length=200)
    include_categories: _Texts = Field(None, max_length=200)
    include_labels: _Texts = Field(None, max_length=200)
    exclude_skus: _Texts = Field(None, max_length=200)
    exclude_categories: _Texts = Field(None, max_length=200)
    exclude_labels: _Texts = Field(None, max_length=200)
    min_quantity: Whole | None = None
    product_per: ProductPer | None = None
    multipliers: _Texts = Field(None, max_length=50, examples=[["sku:PHO = 2", "label:brand:loreal = 3"]])

    def changes(self) -> dict[str, Any]:
        """As the form reads them: tier codes are one text, separated by commas; multipliers one a line."""
        changes = self.dict(exclude_unset=True)
        if changes.get("tiers") is not None:
            changes["tiers"] = ", ".join(changes["tiers"])
        if changes.get("multipliers") is not None:
            changes["multipliers"] = "\n".join(changes["multipliers"])
        return changes


class DraftSimulateIn(SimulateIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"rule": _RULE_EXAMPLE, "phone": "0903123456", "store_code": "hanoi-1", "amount": 150000}
            ]
        }
    )

    rule: RuleIn = Field(description="The draft, checked as a save would check it; nothing is saved.")
    rule_id: Id | None = Field(
        None, description="The rule the draft edits (it replaces that rule); none: a new rule."
    )


def _rule(ctx: ApiContext, rule_id: int, *, locked: bool = False) -> EarningRule:
    rules = EarningRule.objects.of(ctx.merchant)
    if locked:
        rules = rules.select_for_update(of=("self",))  # not the outer-joined version
    rule = rules.select_related("current_version").filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("No such earning rule."), code="rule_not_found")
    return rule


def _rule_form(ctx: ApiContext, rule: EarningRule, data: RuleIn) -> EarningRuleForm:
    form_class = for_api(EarningRuleForm, merchant_id=ctx.merchant.pk)
    form = bound_form(form_class, instance=rule, changes=data.changes())
    valid_or_refuse(form, code="invalid_rule")
    return form


def _saved(ctx: ApiContext, rule: EarningRule) -> RuleOut:
    services.save_rule(rule=rule, actor=ctx.key)
    return RuleOut.of(_rule(ctx, rule.pk))  # as stored: decimals as the database holds them


@manage_router.post(
    "/simulate",
    response={200: SimulationOut, **ERRORS},
    operation_id="simulateDraftEarningRule",
    summary="Simulate a draft rule before saving it",
)
def simulate_draft(
    request: ApiRequest, data: DraftSimulateIn, idempotency_key: str | None = ignored_key_header()
) -> SimulationOut:
    """The points a sale would earn with the draft among the rules in force (in place of the rule it
    edits, when `rule_id` is given). The draft is checked as a save would check it; nothing is saved."""
    ctx = request.auth
    rule = _rule(ctx, data.rule_id) if data.rule_id else EarningRule(merchant=ctx.merchant)
    draft = _rule_form(ctx, rule, data.rule).instance
    version = EarningRuleVersion(
        merchant=ctx.merchant, rule_id=rule.pk or 0, number=0, snapshot=services.snapshot_of(draft)
    )
    return _simulate(ctx, data, draft=version)


@manage_router.get(
    "",
    response={200: list[RuleOut], **ERRORS},
    operation_id="listEarningRules",
    summary="List the earning rules",
)
@paginate(Page)
def list_rules(request: ApiRequest) -> Any:
    """In the order they apply: priority, then creation. Archived (inactive) rules included."""
    rules = selectors.rules_of(request.auth.merchant).select_related("current_version")
    return [RuleOut.of(rule) for rule in rules]


@manage_router.get(
    "/{rule_id}",
    response={200: RuleOut, **ERRORS},
    operation_id="getEarningRule",
    summary="An earning rule",
)
def get_rule(request: ApiRequest, rule_id: Id, response: HttpResponse) -> RuleOut:
    shown = RuleOut.of(_rule(request.auth, rule_id))
    tagged(response, shown)
    return shown


@manage_router.post(
    "",
    response={201: RuleOut, **ERRORS},
    operation_id="createEarningRule",
    summary="Create an earning rule",
)
def create_rule(request: ApiRequest, data: RuleIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Checked as the back office checks it (422 `invalid_rule`, `errors` per field); its first version
    is written."""
    ctx = request.auth

    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _saved(ctx, _rule_form(ctx, EarningRule(merchant=ctx.merchant), data).instance),
    )


@manage_router.patch(
    "/{rule_id}",
    response={200: RuleOut, **CHANGE_ERRORS},
    operation_id="updateEarningRule",
    summary="Change an earning rule",
)
def update_rule(request: ApiRequest, rule_id: Id, data: RuleIn, response: HttpResponse) -> RuleOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). Writes the rule's
    next version; sales already made keep the version they used."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _rule(ctx, rule_id, locked=True),
        shown=RuleOut.of,
        save=lambda rule: _saved(ctx, _rule_form(ctx, rule, data).instance),
    )


@manage_router.post(
    "/{rule_id}/archive",
    response={200: RuleOut, **ERRORS},
    operation_id="archiveEarningRule",
    summary="Archive an earning rule",
)
def archive_rule(request: ApiRequest, rule_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """The rule stops applying (inactive, a new version); it is never deleted, as sales refer to it."""
    ctx = request.auth

    def archive() -> RuleOut:
        rule = _rule(ctx, rule_id, locked=True)
        return _saved(ctx, _rule_form(ctx, rule, RuleIn.model_validate({"is_active": False})).instance)

    return change_once(request, idempotency_key, status=200, change=archive)
