"""The reports' deltas written by database triggers (issue 13): see `tessera.reports.triggers`."""

from django.db import migrations


def install(apps, schema_editor):
    from tessera.reports import triggers

    triggers.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from tessera.reports import triggers

    triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("ledger", "0003_account_balance_ceiling"),
        ("sales", "0004_transaction_earning_parts"),
        ("tiers", "0001_initial"),
        ("cards", "0001_initial"),
        ("tenancy", "0004_merchant_config_version"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
