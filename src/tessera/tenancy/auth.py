"""Who is calling the API, resolved once per request: API key → merchant, store and scope (issue 13).

Each router names the scopes it accepts: `Router(auth=ApiKeyAuth(Scope.POS, …))`. `ApiKeyAuth` finds
the key (none valid: 401 `unauthorized`), checks its scope (403 `insufficient_scope`) and returns an
`ApiContext`; django-ninja sets what an auth callable returns as `request.auth`, and endpoints annotate
their request as `ApiRequest`, so `request.auth.merchant` is typed. The `:read` variant of an accepted
scope passes on GET requests only.

An operator's key (`OperatorKey`: no merchant, for the platform's own management API) has its own auth
class, `OperatorKeyAuth`, and context type, `OperatorContext`: no endpoint typed `ApiRequest` can
receive a context without a merchant. Each auth class refuses the other's keys with 403
`insufficient_scope` (docs/management-api.md, "Keys and operators").

Both count the request against the key's rate limit, and a request without a valid key against its
client address's (`tessera.core.ratelimit`: 429 `rate_limited`, no database statement).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from tessera.core import ratelimit
from tessera.core.errors import NotFound, PermissionDenied, ValidationFailed
from tessera.tenancy import config, services
from tessera.tenancy.lockout import client_ip
from tessera.tenancy.models import OPERATOR_SCOPE, ApiKey, Merchant, OperatorKey, Scope, Store

#: Requests that read and change nothing: what a read-only scope may send.
READ_METHODS = frozenset({"GET", "HEAD"})
#: The rate limit (settings.TESSERA_RATE_LIMITS) of requests without a valid key, per client address.
ANONYMOUS = "anonymous"


class InsufficientScope(PermissionDenied):
    code = "insufficient_scope"


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The calling key and what it acts for. A store-bound key acts in its store only."""

    key: ApiKey
    scope: Scope
    merchant: Merchant
    store: Store | None

    def acting_store(self, store_code: str | None) -> Store:
        """Where a sale, refund or points entry happens (A2: always a store): the key's store, or the
        store a merchant-wide key names."""
        store = self.named_store(store_code)
        if store is None:
            raise ValidationFailed(
                _("Name the store: store_code is required with this key."), code="store_required"
            )
        return store

    def named_store(self, store_code: str | None) -> Store | None:
        """The key's store; for a merchant-wide key the store it names, or none."""
        if self.store is not None:
            if store_code and store_code != self.store.code:
                raise PermissionDenied(_("This API key acts only in its own store."), code="store_mismatch")
            return self.store
        if not store_code:
            return None
        store = stores_by_code(self.merchant).get(store_code)
        if store is None:
            raise NotFound(_("No such store."), code="store_not_found")
        return store


def stores_by_code(merchant: Merchant) -> dict[str, Store]:
    """The merchant's active stores by code, from the configuration cache (`tenancy.config`)."""

    def load() -> dict[str, Store]:
        stores = Store.objects.of(merchant).filter(is_active=True)
        return {store.code: store for store in stores}

    stores = config.cached(merchant.pk, "tenancy.stores", load)
    for store in stores.values():
        store.merchant = merchant  # one merchant instance per request: the store's zone needs no query
    return stores


class ApiRequest(HttpRequest):
    """The request an API endpoint receives: only a type, for annotations (ninja sets `auth`)."""

    auth: ApiContext


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer tsk_<prefix>_<secret>`, from a key with one of `scopes` (or, on a GET,
    one of their read-only variants). With no scopes every key is refused: the API's default, so an
    endpoint that forgets to name its scopes is closed, not open."""

    def __init__(self, *scopes: Scope) -> None:
        super().__init__()
        self.scopes = frozenset(scopes)

    def authenticate(self, request: HttpRequest, token: str) -> ApiContext | None:
        key = services.authenticate_api_key(raw_key=token)
        if key is None:
            if services.authenticate_operator_key(raw_key=token) is not None:
                raise InsufficientScope(
                    _("An operator key manages the platform under /operator/ only, not a merchant's data."),
                    scope=OPERATOR_SCOPE,
                    accepted_scopes=sorted(s.value for s in self.scopes),
                )
            _count_anonymous(request)
            return None
        scope = Scope(key.scope)
        ratelimit.check(key.prefix, scope.value)
        self.check_scope(scope, method=request.method or "")
        # The merchant's configuration version, read with the key: this request's cached reads use it.
        config.observe(key.merchant_id, key.merchant.config_version)
        return ApiContext(key=key, scope=scope, merchant=key.merchant, store=key.store)

    def check_scope(self, scope: Scope, *, method: str) -> None:
        if scope in self.scopes:
            return
        accepted = sorted(s.value for s in self.scopes)
        if scope.is_read_only and scope.full in self.scopes:
            if method in READ_METHODS:
                return
            raise InsufficientScope(
                _("This API key is read-only: it may read, not change anything."),
                scope=scope.value,
                accepted_scopes=accepted,
            )
        raise InsufficientScope(
            _("This API key's scope (%(scope)s) does not allow this request.") % {"scope": scope.value},
            scope=scope.value,
            accepted_scopes=accepted,
        )


def _count_anonymous(request: HttpRequest) -> None:
    """A request whose key is not valid counts against its address: guessing keys meets a limit."""
    ratelimit.check(client_ip(request) or "unknown", ANONYMOUS)


@dataclass(frozen=True, slots=True)
class OperatorContext:
    """The platform operator's key: it acts for no merchant, so it has none to give an endpoint."""

    key: OperatorKey


class OperatorRequest(HttpRequest):
    """The request an operator endpoint receives: only a type, for annotations (ninja sets `auth`)."""

    auth: OperatorContext


class OperatorKeyAuth(HttpBearer):
    """`Authorization: Bearer tso_<prefix>_<secret>`: an operator key (`tessera create_operator_key`).
    A merchant's key, of any scope, gets 403 `insufficient_scope`."""

    scopes = frozenset({OPERATOR_SCOPE})

    def authenticate(self, request: HttpRequest, token: str) -> OperatorContext | None:
        key = services.authenticate_operator_key(raw_key=token)
        if key is None:
            merchant_key = services.authenticate_api_key(raw_key=token)
            if merchant_key is not None:
                raise InsufficientScope(
                    _("This API key's scope (%(scope)s) does not allow this request.")
                    % {"scope": merchant_key.scope},
                    scope=merchant_key.scope,
                    accepted_scopes=[OPERATOR_SCOPE],
                )
            _count_anonymous(request)
            return None
        ratelimit.check(key.prefix, OPERATOR_SCOPE)
        return OperatorContext(key=key)
