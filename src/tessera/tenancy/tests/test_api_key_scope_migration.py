"""Migration 0003 gives today's keys the scope of what they are: a store-bound key is a till's (`pos`),
a merchant-wide key an integration's (`integration`) — and every endpoint accepts both (issue 13)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from tests.factories import MerchantFactory, StoreFactory

from tessera.tenancy.models import ApiKey

BEFORE = [("tenancy", "0002_merchant_require_two_factor")]
AFTER = [("tenancy", "0003_api_key_scope")]


@pytest.mark.django_db(transaction=True)
def test_keys_made_before_scopes_become_pos_when_store_bound_else_integration():
    merchant = MerchantFactory()
    store = StoreFactory(merchant=merchant)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("tenancy", "ApiKey")
    old.objects.create(
        merchant_id=merchant.pk, store_id=store.pk, name="Till", prefix="a1", hashed_secret="x"
    )
    old.objects.create(merchant_id=merchant.pk, name="Shop", prefix="b2", hashed_secret="y")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    try:
        assert dict(ApiKey.objects.values_list("name", "scope")) == {"Till": "pos", "Shop": "integration"}
    finally:
        # Back to the latest schema, for the tests that run after this one in the same database.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
