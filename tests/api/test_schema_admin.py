"""Issue 17: schemathesis over the configuration endpoints (the sales settings, store confirmation rules,
occasion discounts and bonus rules of issue 15 included) of the management API with an admin key —
no request makes the server fail (5xx), and every answer is documented (status, content type, schema).
A stale or missing If-Match (412, 428) is a documented refusal, as are the business rules' 4xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tessera.rewards.models import BonusRule, OccasionDiscount, TopUpBonusRule
from tessera.sales.models import StoreConfirmation
from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db(transaction=False)

CHECKS = {
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "412", "422", "423", "428", "429"]
    }
}
#: The configuration endpoints this test covers (issue 17, program configuration).
PATHS = (
    r"^/api/v1/(points-policy|earning-rules|tier-program|gifts|promo-code-offers|promo-codes|stores"
    r"|sales-settings|store-confirmations|occasion-discounts|bonus-rules|top-up-bonus-rules)(/|$)"
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():  # type: ignore[no-untyped-def]
    """As in tests/security/test_api_schema.py: the raw WSGI app must not close the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(merchant):  # type: ignore[no-untyped-def]
    MemberFactory(merchant=merchant, phone="+84903123456")
    store = StoreFactory(merchant=merchant, code="hanoi-1")
    # One of each for the fuzzer's ids to find (issue 15 §3, §5, §7).
    StoreConfirmation.objects.create(merchant=merchant, store=store)
    OccasionDiscount.objects.create(
        merchant=merchant, name="Weekend", kind="weekday", weekdays="67", percent=5
    )
    BonusRule.objects.create(merchant=merchant, name="Welcome", kind="sign_up", points=10)
    TopUpBonusRule.objects.create(merchant=merchant, name="Top up", min_amount=100000, bonus_points=5)
    raw = create_api_key(merchant=merchant, name="Fuzz", scope=Scope.ADMIN).raw_key
    return {"Authorization": f"Bearer {raw}", "If-Match": "*"}


def _served_schema():  # type: ignore[no-untyped-def]
    from tessera.wsgi import application

    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json",
        application,
        config=SchemathesisConfig.from_dict({"checks": CHECKS, "phases": {"coverage": {"enabled": False}}}),
    )
    return schema.include(path_regex=PATHS)


admin_schema = _served_schema()


@admin_schema.parametrize()
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_configuration_operation_answers_within_its_documented_schema(case, admin_key):  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=admin_key)
