"""Issue 17: schemathesis over the keys and operator endpoints, with ALL its checks — with an admin key
(the merchant's `/keys`) and an operator key (`/operator/…`): no server error, every answer within its
documented status codes, content type, headers and schema."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key, create_operator_key
from tests.factories import StoreFactory
from tests.security.test_api_schema import _keep_the_test_connection, _served_schema

pytestmark = pytest.mark.django_db(transaction=False)

__all__ = ["_keep_the_test_connection"]  # the autouse fixture, shared with the whole API's fuzzing

keys_schema = _served_schema().include(path_regex=r"^/api/v1/keys")
operator_schema = _served_schema().include(path_regex=r"^/api/v1/operator/")
BOUNDED = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture
def admin_key(merchant):  # type: ignore[no-untyped-def]
    StoreFactory(merchant=merchant, code="q1")
    raw = create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN).raw_key
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def operator_key(merchant):  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {create_operator_key(name='Provisioning').raw_key}"}


@keys_schema.parametrize()
@BOUNDED
def test_keys_endpoints_answer_within_their_documented_schema(case, admin_key):
    case.call_and_validate(headers=admin_key)


@operator_schema.parametrize()
@BOUNDED
def test_operator_endpoints_answer_within_their_documented_schema(case, operator_key):
    case.call_and_validate(headers=operator_key)
