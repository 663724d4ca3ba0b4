"""The keys of the management API, and the platform operator's endpoints (issue 17).

`/keys`: a merchant's API keys, for `admin` keys (`admin:read` lists them). An admin key acts for the
whole merchant, so it may issue a key of any scope of the merchant: none has more power than itself.

`/operator/…`: merchants, their stores and their first keys, for an operator key only
(`tessera create_operator_key`); a merchant's key gets 403 there, an operator key 403 everywhere else.

A key's secret is in the answer that creates it and nowhere else: the stored answer an
`Idempotency-Key` replays has `key: null` (Tessera keeps only a hash).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Router

from tessera.core.errors import Conflict, NotFound, ValidationFailed
from tessera.core.idempotency import REPLAYED_HEADER, idempotent, key_header
from tessera.core.limits import Id, Line
from tessera.core.problem import ERRORS
from tessera.core.schemas import Schema
from tessera.tenancy import services
from tessera.tenancy.auth import ApiKeyAuth, ApiRequest, OperatorKeyAuth, OperatorRequest
from tessera.tenancy.models import ApiKey, Merchant, Scope, Store

router = Router(tags=["keys"], auth=ApiKeyAuth(Scope.ADMIN))
operator_router = Router(tags=["operator"], auth=OperatorKeyAuth())

Name = Annotated[Line, Field(min_length=1, max_length=100)]


class KeyIn(Schema):
    name: Name = Field(examples=["POS counter 1"])
    scope: Scope = Field(description="What the key may do (docs/pos-api.md, “Keys and scopes”).")
    store_code: str | None = Field(
        None,
        max_length=30,
        description="Bind the key to this store (a till's key). Never for `admin` and `admin:read`.",
        examples=["q1"],
    )

    model_config = {
        "json_schema_extra": {"examples": [{"name": "POS counter 1", "scope": "pos", "store_code": "q1"}]}
    }


class KeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The key's public part, `tsk_<prefix>_…`: how to recognise it.")
    scope: Scope
    store_code: str | None
    active: bool
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="The last request made with it, to the minute (written at most once a minute)."
    )
    revoked_at: datetime | None

    @staticmethod
    def of(key: ApiKey) -> KeyOut:
        return KeyOut(
            id=key.pk,
            name=key.name,
            prefix=key.prefix,
            scope=Scope(key.scope),
            store_code=key.store.code if key.store is not None else None,
            active=key.is_active,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class CreatedKeyOut(KeyOut):
    key: str | None = Field(
        description="The whole key, for `Authorization: Bearer …`. Shown in this answer only: a replay of "
        "the request (same Idempotency-Key) answers null, and Tessera keeps only a hash."
    )


def _keys_of(merchant: Merchant) -> list[ApiKey]:
    return list(ApiKey.objects.of(merchant).select_related("store").order_by("created_at", "pk"))


def _key_of(merchant: Merchant, key_id: int) -> ApiKey:
    key = ApiKey.objects.of(merchant).select_related("store").filter(pk=key_id).first()
    if key is None:
        raise NotFound(_("No such API key."), code="key_not_found")
    return key


def _issue_key(
    *,
    merchant: Merchant,
    data: KeyIn,
    once: Callable[[Callable[[], tuple[int, CreatedKeyOut]]], HttpResponse],
) -> HttpResponse:
    """Issue the key once (`once`: the Idempotency-Key's guard); the secret goes into the first answer
    only, never into the stored one."""
    issued: list[str] = []

    def work() -> tuple[int, CreatedKeyOut]:
        store = None
        if data.store_code:
            store = Store.objects.of(merchant).filter(code=data.store_code).first()
            if store is None:
                raise NotFound(_("No such store."), code="store_not_found")
        made = services.create_api_key(merchant=merchant, name=data.name, store=store, scope=data.scope)
        issued.append(made.raw_key)
        return 201, CreatedKeyOut(**KeyOut.of(made.key).model_dump(), key=None)

    response = once(work)
    if issued and response.status_code == 201 and not response.has_header(REPLAYED_HEADER):
        body = json.loads(response.content)
        response = HttpResponse(
            json.dumps({**body, "key": issued[0]}), status=201, content_type="application/json"
        )
    response["Cache-Control"] = "no-store"  # the secret must stay in no cache
    return response


@router.get("", response={200: list[KeyOut], **ERRORS}, summary="List the merchant's API keys")
def list_keys(request: ApiRequest) -> list[KeyOut]:
    """Every key, revoked ones included (they stay on the sales they made), oldest first, with its last
    use."""
    return [KeyOut.of(key) for key in _keys_of(request.auth.merchant)]


@router.post("", response={201: CreatedKeyOut, **ERRORS}, summary="Create an API key")
def create_key(request: ApiRequest, data: KeyIn, idempotency_key: str = key_header()) -> HttpResponse:
    """The answer holds the whole key (`key`), **shown once**."""
    merchant = request.auth.merchant
    return _issue_key(
        merchant=merchant,
        data=data,
        once=lambda work: idempotent(request, merchant=merchant, key=idempotency_key, work=work),
    )


@router.get("/{key_id}", response={200: KeyOut, **ERRORS}, summary="Get an API key")
def get_key(request: ApiRequest, key_id: Id) -> KeyOut:
    return KeyOut.of(_key_of(request.auth.merchant, key_id))


@router.post("/{key_id}/revoke", response={200: KeyOut, **ERRORS}, summary="Revoke an API key")
def revoke_key(request: ApiRequest, key_id: Id, idempotency_key: str = key_header()) -> HttpResponse:
    """From this moment the key gets 401. Revoking a revoked key changes nothing. A key may revoke
    itself."""
    merchant = request.auth.merchant

    def work() -> tuple[int, KeyOut]:
        key = _key_of(merchant, key_id)
        services.revoke_api_key(key=key)
        return 200, KeyOut.of(key)

    return idempotent(request, merchant=merchant, key=idempotency_key, work=work)


# --- the platform operator -------------------------------------------------------------------------------


class MerchantIn(Schema):
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    slug: str = Field(max_length=60, pattern=r"^[-a-zA-Z0-9_]+$", description="Used in the portal address.")
    currency: str = Field("VND", max_length=3, description="ISO 4217: `VND` or `CNY`.")
    time_zone: str = Field("Asia/Ho_Chi_Minh", max_length=64, description="An IANA time zone.")
    default_language: str = Field("vi", max_length=10, description="`vi`, `zh-hans` or `en`.")
    country: str = Field(
        "VN", max_length=2, description="Two-letter code; local phone numbers are read as its."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "Phở Ngon",
                    "slug": "pho-ngon",
                    "currency": "VND",
                    "time_zone": "Asia/Ho_Chi_Minh",
                    "default_language": "vi",
                    "country": "VN",
                }
            ]
        }
    }


class MerchantOut(Schema):
    id: int
    name: str
    slug: str
    currency: str
    time_zone: str
    default_language: str
    country: str
    is_active: bool
    created_at: datetime

    @staticmethod
    def of(merchant: Merchant) -> MerchantOut:
        return MerchantOut(
            id=merchant.pk,
            name=merchant.name,
            slug=merchant.slug,
            currency=merchant.currency,
            time_zone=merchant.time_zone,
            default_language=merchant.default_language,
            country=merchant.country,
            is_active=merchant.is_active,
            created_at=merchant.created_at,
        )


class OperatorStoreIn(Schema):
    code: str = Field(max_length=30, pattern=r"^[-a-zA-Z0-9_]+$", examples=["q1"])
    name: Annotated[Line, Field(min_length=1, max_length=200)] = Field(examples=["District 1"])
    address: Annotated[Line, Field(max_length=300)] = ""
    time_zone: str = Field("", max_length=64, description="Empty: the merchant's time zone.")

    model_config = {"json_schema_extra": {"examples": [{"code": "q1", "name": "District 1"}]}}


class OperatorStoreOut(Schema):
    id: int
    code: str
    name: str
    address: str
    time_zone: str
    is_active: bool


@contextmanager
def _validated(code: str) -> Iterator[None]:
    """A model's own validation (`full_clean`) and a lost race on a unique value, said in problem+json."""
    try:
        yield
    except ValidationError as exc:
        raise ValidationFailed(_("The details are not valid."), code=code, errors=exc.message_dict) from None
    except IntegrityError:
        raise Conflict(_("This already exists."), code="already_exists") from None


def _merchant(merchant_id: int) -> Merchant:
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        raise NotFound(_("No such merchant."), code="merchant_not_found")
    return merchant


@operator_router.get("/merchants", response={200: list[MerchantOut], **ERRORS}, summary="List the merchants")
def list_merchants(request: OperatorRequest) -> list[MerchantOut]:
    return [MerchantOut.of(m) for m in Merchant.objects.order_by("pk")]


@operator_router.post("/merchants", response={201: MerchantOut, **ERRORS}, summary="Create a merchant")
def create_merchant(
    request: OperatorRequest, data: MerchantIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """A new merchant with the default staff roles. Then add its stores and issue its first admin key."""

    def work() -> tuple[int, MerchantOut]:
        with _validated("invalid_merchant"):
            merchant = services.create_merchant(**data.model_dump())
        return 201, MerchantOut.of(merchant)

    return idempotent(request, merchant=None, operator_key=request.auth.key, key=idempotency_key, work=work)


@operator_router.get(
    "/merchants/{merchant_id}", response={200: MerchantOut, **ERRORS}, summary="Get a merchant"
)
def get_merchant(request: OperatorRequest, merchant_id: Id) -> MerchantOut:
    return MerchantOut.of(_merchant(merchant_id))


@operator_router.post(
    "/merchants/{merchant_id}/stores",
    response={201: OperatorStoreOut, **ERRORS},
    summary="Add a store to a merchant",
)
def create_store(
    request: OperatorRequest, merchant_id: Id, data: OperatorStoreIn, idempotency_key: str = key_header()
) -> HttpResponse:
    def work() -> tuple[int, OperatorStoreOut]:
        merchant = _merchant(merchant_id)
        with _validated("invalid_store"):
            store = services.create_store(merchant=merchant, **data.model_dump())
        return 201, OperatorStoreOut(
            id=store.pk,
            code=store.code,
            name=store.name,
            address=store.address,
            time_zone=store.time_zone,
            is_active=store.is_active,
        )

    return idempotent(request, merchant=None, operator_key=request.auth.key, key=idempotency_key, work=work)


@operator_router.post(
    "/merchants/{merchant_id}/keys",
    response={201: CreatedKeyOut, **ERRORS},
    summary="Issue a merchant's API key",
)
def create_merchant_key(
    request: OperatorRequest, merchant_id: Id, data: KeyIn, idempotency_key: str = key_header()
) -> HttpResponse:
    """Typically its first `admin` key, handed to the merchant, who issues the rest through `/keys`.
    The answer holds the whole key (`key`), **shown once**."""
    operator_key = request.auth.key
    return _issue_key(
        merchant=_merchant(merchant_id),
        data=data,
        once=lambda work: idempotent(
            request, merchant=None, operator_key=operator_key, key=idempotency_key, work=work
        ),
    )
