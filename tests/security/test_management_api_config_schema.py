"""Issue 17: schemathesis over the management API's card, voucher, connection, webhook and import
endpoints with an `admin` key — no server error, every answer within its documented schema (status,
content type, headers, body). The test delivery is left out: it posts to the endpoint's URL, which
the fuzzer would aim anywhere (`test_management_api.py` of integrations sends it to a real receiver)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as fuzzing

from tessera.cards.tests.factories import CardTypeFactory
from tessera.cards.tests.helpers import active_card
from tessera.integrations import services as integrations
from tessera.tenancy.models import Scope
from tessera.tenancy.services import create_api_key
from tests.factories import MemberFactory, StoreFactory
from tests.security.test_api_schema import CHECKS, _keep_the_test_connection  # noqa: F401

#: An update without If-Match is 428, with a stale tag 412: documented refusals (docs/management-api.md).
UPDATE_CHECKS = {
    name: {"expected-statuses": [*check["expected-statuses"], "412", "428"]} for name, check in CHECKS.items()
}

pytestmark = pytest.mark.django_db(transaction=False)

TAGS = [
    "card types",
    "card batches",
    "adjustment vouchers",
    "shop connections",
    "webhook endpoints",
    "imports",
]


@pytest.fixture
def admin_key(merchant, settings, tmp_path):  # type: ignore[no-untyped-def]
    """An admin key, and one object of each kind for the fuzzer's ids to find."""
    settings.MEDIA_ROOT = tmp_path / "media"
    store = StoreFactory(merchant=merchant, code="q1")
    MemberFactory(merchant=merchant, phone="+84903123456")
    active_card(CardTypeFactory(merchant=merchant))
    integrations.create_endpoint(merchant=merchant, url="https://example.com/hook")
    integrations.create_connection(merchant=merchant, platform="shopify", name="S", store=store)
    raw = create_api_key(merchant=merchant, name="Admin", scope=Scope.ADMIN).raw_key
    return {"Authorization": f"Bearer {raw}"}


def _schema():  # type: ignore[no-untyped-def]
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    from tessera.wsgi import application

    config = SchemathesisConfig.from_dict(
        {"checks": UPDATE_CHECKS, "phases": {"coverage": {"enabled": False}}}
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, config=config)
    return schema.include(tag=TAGS).exclude(operation_id="sendWebhookTest")


management = _schema()


@management.parametrize()
@fuzzing(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_management_operation_answers_within_its_documented_schema_with_an_admin_key(case, admin_key):
    case.call_and_validate(headers=admin_key)
