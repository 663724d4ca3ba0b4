"""The imports part of the public API."""

from ninja import Router

from tessera.tenancy.auth import ApiKeyAuth
from tessera.tenancy.models import Scope

router = Router(tags=["imports"], auth=ApiKeyAuth(Scope.POS, Scope.INTEGRATION, Scope.ADMIN))
