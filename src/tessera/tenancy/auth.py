"""Who is calling the API, resolved once per request: API key → merchant, store and scope (issue 13).

Each router names the scopes it accepts: `Router(auth=ApiKeyAuth(Scope.POS, …))`. `ApiKeyAuth` finds
the key (none valid: 401 `unauthorized`), checks its scope (403 `insufficient_scope`) and returns an
`ApiContext`; django-ninja sets what an auth callable returns as `request.auth`, and endpoints annotate
their request as `ApiRequest`, so `request.auth.merchant` is typed. The `:read` variant of an accepted
scope passes on GET requests only.

An operator's key (no merchant, for the platform's own management API) is planned as its own context
type, `OperatorContext`, from its own auth class: no endpoint typed `ApiRequest` can then receive a
context without a merchant (docs/pos-api.md, "Keys and scopes").
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer

from tessera.core.errors import NotFound, PermissionDenied, ValidationFailed
from tessera.tenancy import config, services
from tessera.tenancy.models import ApiKey, Merchant, Scope, Store

#: Requests that read and change nothing: what a read-only scope may send.
READ_METHODS = frozenset({"GET", "HEAD"})


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
            return None
        scope = Scope(key.scope)
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
