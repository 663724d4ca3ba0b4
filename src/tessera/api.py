"""The public API under /api/v1/ (K3). Domains add their routers here; errors are problem+json."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from tessera.core import idempotency
from tessera.core.errors import DomainError
from tessera.core.problem import CONTENT_TYPE, domain_problem, problem
from tessera.core.ratelimit import RateLimited
from tessera.tenancy.auth import READ_METHODS, ApiKeyAuth, OperatorKeyAuth

#: Answers any operation may give (tessera.core.middleware and the handlers below).
_ANY_OPERATION = {
    429: "Over the key's rate limit (or, without a valid key, the address's): retry after `Retry-After` "
    "seconds.",
    500: "A failure of ours, logged; nothing of it is in the answer.",
    503: "The database is briefly unavailable; retry (with the same Idempotency-Key).",
}


class TesseraAPI(NinjaAPI):
    """The document says what the answers are: ninja declares every response as `application/json`,
    while our errors are `application/problem+json`; the Idempotency-Key's length and the answers any
    operation may give (413 and 500 from tessera.core.middleware, 503 below) are added here, for every
    operation at once.

    The document is built once per process and language (about a second of CPU for a hundred paths):
    built per request, a few clients polling `openapi.json` kept every worker busy past gunicorn's
    timeout on a loaded machine, and the tills behind them waited."""

    _schemas: dict[tuple[str, str, str], OpenAPISchema]

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        key = (
            path_prefix or get_script_prefix(),
            get_language() or "",
            json.dumps(path_params, sort_keys=True, default=str),
        )
        schemas = self.__dict__.setdefault("_schemas", {})
        if key not in schemas:
            schemas[key] = self._build_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        return schemas[key]

    def _build_openapi_schema(
        self, *, path_prefix: str | None, path_params: dict[str, Any] | None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        scopes = self._scopes_by_operation()
        for path_item in schema["paths"].values():
            for method, operation in path_item.items():
                _document_operation(method, operation)
                if operation["operationId"] in scopes:
                    # ninja leaves a requirement's list empty; OpenAPI 3.1 lets it name the roles needed.
                    operation["security"] = [scopes[operation["operationId"]]]
        return schema

    def _scopes_by_operation(self) -> dict[str, dict[str, list[str]]]:
        """The security requirement of each operation, by operation id: the API-key scopes it accepts
        (a `:read` variant on GET too), or `operator` for the platform's own endpoints."""
        found: dict[str, dict[str, list[str]]] = {}
        for router in self._get_bound_routers():
            for view in router.path_operations.values():
                for operation in view.operations:
                    op_id = operation.operation_id or self.get_openapi_operation_id(operation)
                    for auth in operation.auth_callbacks:
                        if isinstance(auth, OperatorKeyAuth):
                            found[op_id] = {OperatorKeyAuth.__name__: sorted(auth.scopes)}
                        elif isinstance(auth, ApiKeyAuth):
                            accepted = {s.value for s in auth.scopes}
                            if set(operation.methods) <= READ_METHODS:
                                accepted |= {f"{s}:read" for s in accepted}
                            found[op_id] = {ApiKeyAuth.__name__: sorted(accepted)}
        return found


def _document_operation(method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    added = dict(_ANY_OPERATION)
    if method in ("post", "put", "patch"):
        added[413] = f"The body is over the size limit ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."
    for status, description in added.items():
        if status not in responses and str(status) not in responses:
            responses[status] = {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            if status == RateLimited.status:
                responses[status]["headers"] = {
                    "Retry-After": {
                        "description": "Seconds until the limit's window ends.",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                }
    for status, response in responses.items():
        content = response.get("content", {})
        if int(status) >= 400 and "application/json" in content:
            content[CONTENT_TYPE] = content.pop("application/json")
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: int(item[0])))
    for parameter in operation.get("parameters", []):
        if (
            parameter.get("in") == "header"
            and parameter.get("name") == idempotency.HEADER
            and parameter["required"]
        ):
            parameter["schema"].update(minLength=1, maxLength=idempotency.MAX_KEY_LENGTH)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


class JsonObjectParser(Parser):
    """A body is one JSON object of Unicode text (RFC 8259: no NaN or Infinity). ninja's schemas read a
    value's attributes, so `[]`, `7` or `"x"` would otherwise pass as an object with every field left
    out; and a lone surrogate (`"\\ud800"`, valid JSON syntax but no character) cannot be stored."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body, parse_constant=_not_json)
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        if b"\\ud" in request.body.lower():
            # Surrogates only arrive escaped; paired ones were decoded to one character, lone ones stay.
            json.dumps(data, ensure_ascii=False).encode()
        return data


api = TesseraAPI(
    title="Tessera API",
    version="1",
    description=(
        "Point-of-sale and integration API. Authenticate with `Authorization: Bearer <api key>`. "
        "Each operation names the key scopes it accepts (its `security`); a `:read` scope may only read. "
        "Every POST takes an `Idempotency-Key` header. Errors are `application/problem+json` (RFC 9457) "
        "with a stable `code`."
    ),
    auth=ApiKeyAuth(),
    parser=JsonObjectParser(),
    urls_namespace="api-v1",
    docs_url="/docs" if settings.TESSERA_API_DOCS_ENABLED else None,  # openapi.json always
)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = domain_problem(request, exc)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    if any(list(e.get("loc", ()))[:2] == ["header", idempotency.HEADER] for e in exc.errors):
        return on_domain_error(request, idempotency.IdempotencyKeyRequired(idempotency.MISSING_KEY))
    return problem(
        request, status=422, code="invalid_request", detail=_("The request is not valid."), errors=exc.errors
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(request, status=401, code="unauthorized", detail=_("A valid API key is required."))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database went away mid-request (restart, failover): nothing was committed, so the till may
    retry with the same Idempotency-Key. Said in problem+json, not as an HTML error page."""
    response = problem(
        request,
        status=503,
        code="database_unavailable",
        detail=_("The service is briefly unavailable. Retry with the same Idempotency-Key."),
    )
    response["Retry-After"] = "2"
    return response


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:  # ninja's only 400: the body did not parse (JsonObjectParser)
        return problem(
            request,
            status=400,
            code="invalid_body",
            detail=_("The request body must be one JSON object of Unicode text."),
        )
    return problem(request, status=exc.status_code, code="http_error", detail=str(exc))


def _register_routers() -> None:
    from tessera.adjustments.api import router as adjustments_router
    from tessera.cards.api import batches_router as card_batches_router
    from tessera.cards.api import router as cards_router
    from tessera.cards.api import types_router as card_types_router
    from tessera.imports.api import router as imports_router
    from tessera.integrations.api import connections_router, endpoints_router
    from tessera.integrations.api import router as integrations_router
    from tessera.marketing.api import router as marketing_router
    from tessera.members.api import router as members_router
    from tessera.points.api import router as points_policy_router
    from tessera.reports.api import router as reports_router
    from tessera.rewards.api import codes_router, events_router, gifts_router, offers_router
    from tessera.rewards.api import router as rewards_router
    from tessera.rewards.config_api import bonus_rules_router, occasions_router, top_up_rules_router
    from tessera.rules.api import manage_router as earning_rules_router
    from tessera.rules.api import router as rules_router
    from tessera.sales.api import router as sales_router
    from tessera.sales.config_api import confirmations_router, settings_router
    from tessera.tenancy.api import operator_router
    from tessera.tenancy.api import router as keys_router
    from tessera.tenancy.stores_api import router as stores_router
    from tessera.tiers.api import manage_router as tier_program_router
    from tessera.tiers.api import router as tiers_router

    # The till's router first, then the other per-sale ones: Django's resolver tries ninja's patterns
    # in this order, one by one (a lookup behind the management API's hundred paths paid ~0.2 ms).
    api.add_router("/", sales_router)
    api.add_router("/members", members_router)
    api.add_router("/cards", cards_router)
    api.add_router("/card-types", card_types_router)
    api.add_router("/card-batches", card_batches_router)
    api.add_router("/rules", rules_router)
    api.add_router("/tiers", tiers_router)
    api.add_router("/rewards", rewards_router)
    api.add_router("/events", events_router)
    api.add_router("/integrations", integrations_router)
    api.add_router("/shop-connections", connections_router)
    api.add_router("/webhook-endpoints", endpoints_router)
    api.add_router("/marketing", marketing_router)
    api.add_router("/imports", imports_router)
    api.add_router("/adjustment-vouchers", adjustments_router)
    api.add_router("/reports", reports_router)
    api.add_router("/keys", keys_router)
    api.add_router("/operator", operator_router)
    # The management API of the merchant's configuration (issue 17), scope `admin`.
    api.add_router("/points-policy", points_policy_router)
    api.add_router("/earning-rules", earning_rules_router)
    api.add_router("/tier-program", tier_program_router)
    api.add_router("/gifts", gifts_router)
    api.add_router("/promo-code-offers", offers_router)
    api.add_router("/promo-codes", codes_router)
    api.add_router("/stores", stores_router)
    api.add_router("/sales-settings", settings_router)
    api.add_router("/store-confirmations", confirmations_router)
    api.add_router("/occasion-discounts", occasions_router)
    api.add_router("/bonus-rules", bonus_rules_router)
    api.add_router("/top-up-bonus-rules", top_up_rules_router)


_register_routers()
