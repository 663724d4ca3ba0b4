"""A test's API client holding one key (issue 17): JSON bodies, a fresh Idempotency-Key per POST."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import Client

from tessera.tenancy.models import ApiKey, Merchant, Scope, Store
from tessera.tenancy.services import create_api_key


class KeyClient:
    def __init__(self, merchant: Merchant, scope: Scope = Scope.ADMIN, store: Store | None = None) -> None:
        issued = create_api_key(merchant=merchant, name=f"{scope} key", store=store, scope=scope)
        self.key: ApiKey = issued.key
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(f"/api/v1{path}", **extra)

    def post(self, path: str, body: dict[str, Any] | None = None, **extra: Any) -> Any:
        extra.setdefault("HTTP_IDEMPOTENCY_KEY", str(uuid.uuid4()))
        return self.client.post(f"/api/v1{path}", body or {}, content_type="application/json", **extra)

    def patch(self, path: str, body: dict[str, Any], if_match: str | None = None, **extra: Any) -> Any:
        if if_match is not None:
            extra["HTTP_IF_MATCH"] = if_match
        return self.client.patch(f"/api/v1{path}", body, content_type="application/json", **extra)

    def delete(self, path: str, if_match: str | None = None, **extra: Any) -> Any:
        if if_match is not None:
            extra["HTTP_IF_MATCH"] = if_match
        return self.client.delete(f"/api/v1{path}", **extra)
