"""Migration `points` 0001 moves each merchant's points policy out of the sales settings (issue 13 item 1):
the values are copied, a validity of N months becomes "N months after earning" and 0 "never", and the
roles that could see or change the sales settings get the same on the new page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from tests.factories import MerchantFactory

from tessera.points.models import ExpiryKind

BEFORE = [("sales", "0006_transfer_points_permission"), ("points", None)]
AFTER = [("sales", "0007_points_policy_moved")]


def latest(executor: MigrationExecutor) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_issue_13_the_policy_values_move_to_the_points_policy():
    kept, never = MerchantFactory(), MerchantFactory()
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        apps = executor.loader.project_state(BEFORE[:1]).apps
        settings = apps.get_model("sales", "SalesSettings")
        settings.objects.create(
            merchant_id=kept.pk,
            earn_per_amount=5000,
            point_value=Decimal(50),
            pending_days=3,
            points_validity_months=6,
        )
        settings.objects.create(merchant_id=never.pk, points_validity_months=0)
        permission = apps.get_model("auth", "Permission").objects.get(codename="change_salessettings")
        group = apps.get_model("auth", "Group").objects.create(name="owners")
        group.permissions.add(permission)

        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)

        # The policy as it was then: later migrations add columns the model has now.
        policies = executor.loader.project_state(AFTER).apps.get_model("points", "Policy").objects
        row = policies.get(merchant=kept.pk)
        assert (row.earn_per_amount, row.point_value, row.pending_days) == (5000, Decimal(50), 3)
        assert (row.expiry, row.expiry_period) == (ExpiryKind.MONTHS, 6)
        assert policies.get(merchant=never.pk).expiry == ExpiryKind.NEVER
        granted = set(Group.objects.get(name="owners").permissions.values_list("codename", flat=True))
        assert granted == {"change_salessettings", "change_policy"}
    finally:
        latest(executor)
