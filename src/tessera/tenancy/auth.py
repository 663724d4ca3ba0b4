"""API-key authentication for the POS and integration API."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from tessera.tenancy import services


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer tsk_<prefix>_<secret>`; on success the request carries merchant and store."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = services.authenticate_api_key(raw_key=token)
        if key is None:
            return None
        request.api_key = key  # type: ignore[attr-defined]
        request.merchant = key.merchant  # type: ignore[attr-defined]
        request.store = key.store  # type: ignore[attr-defined]
        return key
