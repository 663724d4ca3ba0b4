"""The merchant's stores in the management API (issue 17): listed, read, created, changed with If-Match,
archived (deactivated: sales keep their store). Through the back office's `StoreForm` and
`services.create_store` / `update_store`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router
from ninja.pagination import paginate
from pydantic import ConfigDict

from tessera.core.api_forms import bound_form, valid_or_refuse
from tessera.core.errors import NotFound, ValidationFailed
from tessera.core.etag import tagged
from tessera.core.idempotency import key_header
from tessera.core.limits import Id
from tessera.core.pages import Page
from tessera.core.problem import CHANGE_ERRORS, ERRORS
from tessera.core.schemas import Schema
from tessera.tenancy import services
from tessera.tenancy.auth import ApiContext, ApiKeyAuth, ApiRequest
from tessera.tenancy.forms import StoreForm
from tessera.tenancy.history import change_if_match, change_once
from tessera.tenancy.models import Scope, Store

router = Router(tags=["stores"], auth=ApiKeyAuth(Scope.ADMIN))

FIELDS = ("code", "name", "address", "time_zone", "is_active")


class StoreOut(Schema):
    id: int
    code: str = Field(description="What a merchant-wide key names as `store_code`.")
    name: str
    address: str
    time_zone: str
    is_active: bool = Field(description="False: archived; its sales and keys stay.")


class StoreIn(Schema):
    """The fields to set; on a change, those not sent stay as they are. As the back office's form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "hanoi-1", "name": "Hà Nội 1", "time_zone": "Asia/Ho_Chi_Minh"}]
        }
    )

    code: str | None = None
    name: str | None = None
    address: str | None = None
    time_zone: str | None = None
    is_active: bool | None = None


def _store(ctx: ApiContext, store_id: int, *, locked: bool = False) -> Store:
    stores = Store.objects.of(ctx.merchant)
    if locked:
        stores = stores.select_for_update()
    store = stores.filter(pk=store_id).first()
    if store is None:
        raise NotFound(_("No such store."), code="store_not_found")
    return store


def _save(ctx: ApiContext, store: Store, changes: dict[str, Any]) -> StoreOut:
    form = bound_form(StoreForm, instance=store, changes=changes)
    data = valid_or_refuse(form, code="invalid_store")
    values = {name: data[name] for name in FIELDS}
    try:
        if store.pk is None:
            code, name = values.pop("code"), values.pop("name")
            store = services.create_store(
                merchant=ctx.merchant, code=code, name=name, actor=ctx.key, **values
            )
        else:
            services.update_store(store=store, actor=ctx.key, **values)
    except ValidationError as error:  # the model's own check, as the service runs it (a code taken)
        errors = {None if f == "__all__" else f: list(m) for f, m in error.message_dict.items()}
        raise ValidationFailed(error.messages[0], code="invalid_store", errors=errors) from None
    return StoreOut.from_orm(store)


@router.get(
    "", response={200: list[StoreOut], **ERRORS}, operation_id="listStores", summary="List the stores"
)
@paginate(Page)
def list_stores(request: ApiRequest) -> Any:
    """Archived stores included (`is_active` false), by code."""
    return Store.objects.of(request.auth.merchant).order_by("code")


@router.get("/{store_id}", response={200: StoreOut, **ERRORS}, operation_id="getStore", summary="A store")
def get_store(request: ApiRequest, store_id: Id, response: HttpResponse) -> StoreOut:
    shown = StoreOut.from_orm(_store(request.auth, store_id))
    tagged(response, shown)
    return shown


@router.post("", response={201: StoreOut, **ERRORS}, operation_id="createStore", summary="Open a store")
def create_store(request: ApiRequest, data: StoreIn, idempotency_key: str = key_header()) -> HttpResponse:
    """Codes are unique per merchant (422 `invalid_store`, with `errors` per field)."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=201,
        change=lambda: _save(ctx, Store(merchant=ctx.merchant), data.dict(exclude_unset=True)),
    )


@router.patch(
    "/{store_id}",
    response={200: StoreOut, **CHANGE_ERRORS},
    operation_id="updateStore",
    summary="Change a store",
)
def update_store(request: ApiRequest, store_id: Id, data: StoreIn, response: HttpResponse) -> StoreOut:
    """Send `If-Match` with the ETag you read (428 without, 412 when it changed since)."""
    ctx = request.auth
    return change_if_match(
        request,
        response,
        locked=lambda: _store(ctx, store_id, locked=True),
        shown=StoreOut.from_orm,
        save=lambda store: _save(ctx, store, data.dict(exclude_unset=True)),
    )


@router.post(
    "/{store_id}/archive",
    response={200: StoreOut, **ERRORS},
    operation_id="archiveStore",
    summary="Close a store",
)
def archive_store(request: ApiRequest, store_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """Deactivated, never deleted: its sales keep it."""
    ctx = request.auth
    return change_once(
        request,
        idempotency_key,
        status=200,
        change=lambda: _save(ctx, _store(ctx, store_id, locked=True), {"is_active": False}),
    )
