"""The database dropping a till's connection mid-request (a restart, a failover): the API answers 503
problem+json, never an HTML error page, and the same request retried with its Idempotency-Key then
succeeds exactly once. PostgreSQL only: the connection is really terminated by the server."""

from __future__ import annotations

import json
import os

import psycopg
import pytest
from django.db import connection

from tessera.ledger.models import Entry
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="terminating a server connection needs PostgreSQL (set DATABASE_URL)",
    ),
]


def _terminate_django_connection() -> None:
    pid = connection.connection.info.backend_pid  # type: ignore[union-attr]
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_dropped_database_connection_is_a_retryable_503_and_the_retry_applies_once(merchant, client):
    store = StoreFactory(merchant=merchant, code="s1")
    key = create_api_key(merchant=merchant, name="till", store=store).raw_key
    MemberFactory(merchant=merchant, phone="+84912345678")
    body = json.dumps({"phone": "+84912345678", "points": 25, "note": "outage"})
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_IDEMPOTENCY_KEY": "outage-1"}
    connection.ensure_connection()
    _terminate_django_connection()

    failed = client.post("/api/v1/points/add", body, content_type="application/json", **headers)

    assert failed.status_code == 503
    assert failed["Content-Type"].startswith("application/problem+json")
    assert failed["Retry-After"] == "2"
    assert failed.json()["code"] == "database_unavailable"
    # What the web server does after every request (the test client skips it): drop the broken connection.
    connection.close_if_unusable_or_obsolete()
    assert Entry.objects.filter(merchant=merchant).count() == 0

    retried = client.post("/api/v1/points/add", body, content_type="application/json", **headers)
    replayed = client.post("/api/v1/points/add", body, content_type="application/json", **headers)

    assert retried.status_code == replayed.status_code == 201
    assert retried.json() == replayed.json()
    assert Entry.objects.filter(merchant=merchant).count() == 1
