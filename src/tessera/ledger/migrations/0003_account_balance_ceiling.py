"""A ceiling on every account's balance (issue 12): far below 2^63, so sums of balances stay exact."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0002_entry_append_only_trigger"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("balance__lte", 1000000000000000)), name="account_balance_within_limit"
            ),
        ),
    ]
