"""The public API under /api/v1/ (K3). Domains add their routers here; errors are problem+json."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from tessera.core import idempotency
from tessera.core.errors import DomainError
from tessera.core.problem import CONTENT_TYPE, domain_problem, problem
from tessera.tenancy.auth import READ_METHODS, ApiKeyAuth

#: Answers any operation may give (tessera.core.middleware and the handlers below).
_ANY_OPERATION = {
    500: "A failure of ours, logged; nothing of it is in the answer.",
    503: "The database is briefly unavailable; retry (with the same Idempotency-Key).",
}


class TesseraAPI(NinjaAPI):
    """The document says what the answers are: ninja declares every response as `application/json`,
    while our errors are `application/problem+json`; the Idempotency-Key's length and the answers any
    operation may give (413 and 500 from tessera.core.middleware, 503 below) are added here, for every
    operation at once."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        scopes = self._scopes_by_operation()
        for path_item in schema["paths"].values():
            for method, operation in path_item.items():
                _document_operation(method, operation)
                if operation["operationId"] in scopes:
                    # ninja leaves a requirement's list empty; OpenAPI 3.1 lets it name the roles needed.
                    operation["security"] = [{ApiKeyAuth.__name__: scopes[operation["operationId"]]}]
        return schema

    def _scopes_by_operation(self) -> dict[str, list[str]]:
        """The API-key scopes each operation accepts, by operation id (a `:read` variant on GET too)."""
        found: dict[str, list[str]] = {}
        for router in self._get_bound_routers():
            for view in router.path_operations.values():
                for operation in view.operations:
                    auth = next((a for a in operation.auth_callbacks if isinstance(a, ApiKeyAuth)), None)
                    if auth is not None:
                        accepted = {s.value for s in auth.scopes}
                        if set(operation.methods) <= READ_METHODS:
                            accepted |= {f"{s}:read" for s in accepted}
                        op_id = operation.operation_id or self.get_openapi_operation_id(operation)
                        found[op_id] = sorted(accepted)
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
    return domain_problem(request, exc)


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
    from tessera.reports.api import router as reports_router
    from tessera.rewards.api import events_router
    from tessera.rewards.api import router as rewards_router
    from tessera.rules.api import router as rules_router
    from tessera.sales.api import router as sales_router
    from tessera.tiers.api import router as tiers_router

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
    api.add_router("/", sales_router)


_register_routers()
