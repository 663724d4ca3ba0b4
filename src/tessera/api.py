"""The public API under /api/v1/ (K3). Domains add their routers here; errors are problem+json."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from tessera.core import idempotency
from tessera.core.errors import DomainError
from tessera.core.problem import problem
from tessera.tenancy.auth import ApiKeyAuth

api = NinjaAPI(
    title="Tessera API",
    version="1",
    description=(
        "Point-of-sale and integration API. Authenticate with `Authorization: Bearer <api key>`. "
        "Every POST takes an `Idempotency-Key` header. Errors are `application/problem+json` (RFC 9457) "
        "with a stable `code`."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return problem(request, status=exc.status, code=exc.code, detail=str(exc.message), **exc.detail)


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
    return problem(request, status=exc.status_code, code="http_error", detail=str(exc))


def _register_routers() -> None:
    from tessera.cards.api import router as cards_router
    from tessera.imports.api import router as imports_router
    from tessera.integrations.api import router as integrations_router
    from tessera.marketing.api import router as marketing_router
    from tessera.members.api import router as members_router
    from tessera.reports.api import router as reports_router
    from tessera.rewards.api import router as rewards_router
    from tessera.rules.api import router as rules_router
    from tessera.sales.api import router as sales_router
    from tessera.tiers.api import router as tiers_router

    api.add_router("/members", members_router)
    api.add_router("/cards", cards_router)
    api.add_router("/rules", rules_router)
    api.add_router("/tiers", tiers_router)
    api.add_router("/rewards", rewards_router)
    api.add_router("/integrations", integrations_router)
    api.add_router("/marketing", marketing_router)
    api.add_router("/imports", imports_router)
    api.add_router("/reports", reports_router)
    api.add_router("/", sales_router)


_register_routers()
