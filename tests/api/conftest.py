"""Clients of the management API (issue 17): keys of each scope, and another merchant's admin key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.factories import StoreFactory


class Api:
    """A client with a key: JSON in and out, paths under /api/v1/, an Idempotency-Key on every POST."""

    def __init__(self, merchant: Any, *, scope: Scope, store: Any = None, name: str = "Head office") -> None:
        self.key = create_api_key(merchant=merchant, name=name, store=store, scope=scope)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {self.key.raw_key}")

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        if method == "post":
            extra.setdefault("HTTP_IDEMPOTENCY_KEY", str(uuid.uuid4()))
        return getattr(self.client, method)(
            "/api/v1" + path, body if body is not None else {}, content_type="application/json", **extra
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get("/api/v1" + path)

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.call("post", path, body, **headers)

    def patch(self, path: str, body: Any, *, etag: str | None = None) -> Any:
        return self.call("patch", path, body, **({"If-Match": etag} if etag else {}))

    def change(self, path: str, body: Any) -> Any:
        """Read `path`, then PATCH it with the ETag read."""
        return self.patch(path, body, etag=self.get(path)["ETag"])


@pytest.fixture
def store(merchant):  # type: ignore[no-untyped-def]
    return StoreFactory(merchant=merchant, code="hanoi-1", name="Hà Nội 1")


@pytest.fixture
def admin(merchant) -> Api:  # type: ignore[no-untyped-def]
    return Api(merchant, scope=Scope.ADMIN)


@pytest.fixture
def admin_read(merchant) -> Api:  # type: ignore[no-untyped-def]
    return Api(merchant, scope=Scope.ADMIN_READ, name="Auditor")


@pytest.fixture
def till(merchant, store) -> Api:  # type: ignore[no-untyped-def]
    return Api(merchant, scope=Scope.POS, store=store, name="Till 1")


@pytest.fixture
def integration(merchant) -> Api:  # type: ignore[no-untyped-def]
    return Api(merchant, scope=Scope.INTEGRATION, name="Shop")


@pytest.fixture
def stranger(other_merchant) -> Api:  # type: ignore[no-untyped-def]
    return Api(other_merchant, scope=Scope.ADMIN, name="Another merchant")
