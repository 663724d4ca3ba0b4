"""How sales are confirmed, in the management API (issue 17, issue 15 §7): the merchant's sales settings
(read, changed with If-Match) and the stores' own confirmation rules (listed, read, created, changed
with If-Match, deleted — the back office deletes them: the store then follows the sales settings again).

Through the back office's forms (`SalesSettingsForm`, `StoreConfirmationForm`) and the sales services,
so the API refuses what the pages refuse, with the same messages, and the history names the key.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router
from ninja.pagination import paginate
from pydantic import ConfigDict

from tessera.core.api_forms import bound_form, for_api, one_of, valid_or_refuse
from tessera.core.errors import NotFound
from tessera.core.etag import tagged
from tessera.core.idempotency import key_header
from tessera.core.limits import Id, Whole
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.sales import services
from tessera.sales.admin import SalesSettingsForm, StoreConfirmationForm
from tessera.sales.models import SalesSettings, StoreConfirmation
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.history import change_if_match, change_once, changing
from tessera.tenancy.models import Merchant, Scope

settings_router = Router(tags=["sales settings"], auth=ApiKeyAuth(Scope.ADMIN))
confirmations_router = Router(tags=["sales settings"], auth=ApiKeyAuth(Scope.ADMIN))


class ConfirmationMethodsOut(Schema):
    confirm_with_pin: bool
    confirm_with_otp: bool
    confirm_with_staff: bool
    verify_from_amount: int | None = Field(description="Minor units; null: no amount threshold.")
    verify_from_points: int | None = Field(description="Points spent; null: no points threshold.")


class SalesSettingsOut(ConfirmationMethodsOut):
    confirm_attempt_limit: int = Field(description="Wrong PIN or code tries before the sale is locked.")
    confirm_lockout_minutes: int = Field(description="Wrong tries of a member over this long count.")
    cashiers_may_refund: bool


class SalesSettingsPatch(Schema):
    """The fields to change; the others stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "confirm_with_pin": True,
                    "confirm_with_otp": False,
                    "confirm_with_staff": False,
                    "verify_from_amount": 500000,
                }
            ]
        }
    )

    confirm_with_pin: bool | None = None
    confirm_with_otp: bool | None = None
    confirm_with_staff: bool | None = None
    verify_from_amount: Whole | None = None
    verify_from_points: Whole | None = None
    confirm_attempt_limit: Whole | None = None
    confirm_lockout_minutes: Whole | None = None
    cashiers_may_refund: bool | None = None


def _settings(merchant: Merchant, *, locked: bool = False) -> SalesSettings:
    """The settings as stored (created with the defaults on first use), not from the cache."""
    SalesSettings.objects.get_or_create(merchant=merchant)
    rows = SalesSettings.objects.select_for_update() if locked else SalesSettings.objects.all()
    return rows.get(merchant=merchant)


@settings_router.get(
    "",
    response={200: SalesSettingsOut, **ERRORS},
    operation_id="getSalesSettings",
    summary="The sales settings",
)
def get_sales_settings(request: ApiRequest, response: HttpResponse) -> SalesSettingsOut:
    """How sales are confirmed (the methods, and from which amount or points a sale must be verified)
    and refunded. A store with its own rules (`/store-confirmations`) uses those instead. `ETag` names
    this version."""
    shown = SalesSettingsOut.from_orm(_settings(request.auth.merchant))
    tagged(response, shown)
    return shown


@settings_router.patch(
    "",
    response={200: SalesSettingsOut, **CHANGE_ERRORS},
    operation_id="updateSalesSettings",
    summary="Change the sales settings",
)
def update_sales_settings(
    request: ApiRequest, data: SalesSettingsPatch, response: HttpResponse
) -> SalesSettingsOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since). The tills follow
    the change on their next request. Refusals: 422 `invalid_sales_settings`, with `errors` per field.
    """
    merchant = request.auth.merchant

    def save(settings: SalesSettings) -> SalesSettingsOut:
        form = bound_form(SalesSettingsForm, instance=settings, changes=data.dict(exclude_unset=True))
        valid_or_refuse(form, code="invalid_sales_settings")
        services.save_sales_settings(settings=form.instance, actor=request.auth.key)
        return SalesSettingsOut.from_orm(_settings(merchant))

    return change_if_match(
        request,
        response,
        locked=lambda: _settings(merchant, locked=True),
        shown=SalesSettingsOut.from_orm,
        save=save,
    )


# --- a store's own confirmation rules ------------------------------------------------------------------


class StoreConfirmationOut(ConfirmationMethodsOut):
    id: int
    store_id: int
    store_code: str


class StoreConfirmationIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "store_id": 3,
                    "confirm_with_pin": False,
                    "confirm_with_otp": False,
                    "confirm_with_staff": True,
                }
            ]
        }
    )

    store_id: Id | None = Field(None, description="The store (one set of rules per store).")
    confirm_with_pin: bool | None = None
    confirm_with_otp: bool | None = None
    confirm_with_staff: bool | None = None
    verify_from_amount: Whole | None = None
    verify_from_points: Whole | None = None

    def changes(self) -> dict[str, Any]:
        """As the form names them: the store is `store`."""
        changes = self.dict(exclude_unset=True)
        if "store_id" in changes:
            changes["store"] = changes.pop("store_id")
        return changes


def _confirmation_out(row: StoreConfirmation) -> StoreConfirmationOut:
    return StoreConfirmationOut(
        id=row.pk,
        store_id=row.store_id,
        store_code=row.store.code,
        confirm_with_pin=row.confirm_with_pin,
        confirm_with_otp=row.confirm_with_otp,
        confirm_with_staff=row.confirm_with_staff,
        verify_from_amount=row.verify_from_amount,
        verify_from_points=row.verify_from_points,
    )


def _confirmation(ctx: ApiContext, confirmation_id: int, *, locked: bool = False) -> StoreConfirmation:
    missing = NotFound(_("No such store confirmation rules."), code="store_confirmation_not_found")
    rows = StoreConfirmation.objects.of(ctx.merchant)
    return one_of(
        rows if locked else rows.select_related("store"), confirmation_id, missing=missing, lock=locked
    )


def _save_confirmation(
    ctx: ApiContext, confirmation: StoreConfirmation, data: StoreConfirmationIn
) -> StoreConfirmationOut:
    form_class = for_api(StoreConfirmationForm, merchant_id=ctx.merchant.pk)
    form = bound_form(form_class, instance=confirmation, changes=data.changes())
    valid_or_refuse(form, code="invalid_store_confirmation")
    saved = services.save_store_confirmation(confirmation=form.instance, actor=ctx.key)
    return _confirmation_out(saved)


@confirmations_router.get(
    "",
    response={200: list[StoreConfirmationOut], **ERRORS},
    operation_id="listStoreConfirmations",
    summary="List the stores' own confirmation rules",
)
@paginate(Page)
def list_confirmations(request: ApiRequest) -> Any:
    """The stores that confirm sales their own way, by store code; the others follow the sales
    settings."""
    rows = StoreConfirmation.objects.of(request.auth.merchant).select_related("store")
    return [_confirmation_out(row) for row in rows.order_by("store__code", "pk")]


@confirmations_router.get(
    "/{confirmation_id}",
    response={200: StoreConfirmationOut, **ERRORS},
    operation_id="getStoreConfirmation",
    summary="A store's own confirmation rules",
)
def get_confirmation(
    request: ApiRequest, confirmation_id: Id, response: HttpResponse
) -> StoreConfirmationOut:
    shown = _confirmation_out(_confirmation(request.auth, confirmation_id))
    tagged(response, shown)
    return shown


@confirmations_router.post(
    "",
    response={201: StoreConfirmationOut, **ERRORS},
    operation_id="createStoreConfirmation",
    summary="Give a store its own confirmation rules",
)
def create_confirmation(
    request: ApiRequest, data: StoreConfirmationIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """They replace the sales settings' methods and thresholds for the sales made in the store: a sale
    reaching `verify_from_amount` (amount due, minor units) or `verify_from_points` (points spent) must
    be verified by one of the methods on; both null: every sale. A store has one set (422
    `invalid_store_confirmation`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save_confirmation(ctx, StoreConfirmation(merchant=ctx.merchant), data),
    )


@confirmations_router.patch(
    "/{confirmation_id}",
    response={200: StoreConfirmationOut, **CHANGE_ERRORS},
    operation_id="updateStoreConfirmation",
    summary="Change a store's own confirmation rules",
)
def update_confirmation(
    request: ApiRequest, confirmation_id: Id, data: StoreConfirmationIn, response: HttpResponse
) -> StoreConfirmationOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since)."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _confirmation(ctx, confirmation_id, locked=True),
        shown=_confirmation_out,
        save=lambda row: _save_confirmation(ctx, row, data),
    )


@confirmations_router.delete(
    "/{confirmation_id}",
    response={204: None, **ERRORS},
    operation_id="deleteStoreConfirmation",
    summary="Delete a store's own confirmation rules",
)
def delete_confirmation(request: ApiRequest, confirmation_id: Id) -> HttpResponse:
    """The store confirms its sales by the sales settings again (as when the back office deletes them);
    the rules it had stay in the history."""
    ctx = request.auth
    with changing(ctx):
        row = _confirmation(ctx, confirmation_id, locked=True)
        services.delete_store_confirmation(confirmation=row, actor=ctx.key)
    return HttpResponse(status=204)
