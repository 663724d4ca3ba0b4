"""K3 / issue 7: fuzz every operation of the served OpenAPI document with schemathesis, through WSGI and
with a real API key: no request makes the server fail (5xx), and every answer — success or problem+json —
matches the status codes and schemas the document declares. Bounded: a few examples per operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():  # type: ignore[no-untyped-def]
    """Called as a raw WSGI app, Django would close the database connection at the end of each request
    (mid-test, inside the test's transaction); its own test client disconnects these handlers too."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_headers(merchant):  # type: ignore[no-untyped-def]
    """A store-bound key of a merchant that has a store, a member with a phone, the data fuzzing hits."""
    store = StoreFactory(merchant=merchant, code="q1")
    MemberFactory(merchant=merchant, phone="+84903123456")
    key = create_api_key(merchant=merchant, name="Fuzz till", store=store).raw_key
    return {"Authorization": f"Bearer {key}"}


def _served_schema():  # type: ignore[no-untyped-def]
    """The document as the server serves it (no database access: the docs need no key)."""
    from tessera.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


schema = _served_schema()


@schema.parametrize()
@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_documented_schema(case, api_headers):
    response = case.call(headers=api_headers)
    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
