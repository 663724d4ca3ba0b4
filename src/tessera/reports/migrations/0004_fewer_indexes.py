"""The report tables' merchant keys lose the index their composite keys cover (issue 16).

On SQLite Django rebuilds a table to drop an index, and SQLite refuses to rename a rebuilt table that a
trigger's body names: the report triggers go first there, and `reports.apps` puts them back once
`migrate` is done (as after any rebuild). PostgreSQL only drops the indexes."""

import django.db.models.deletion
from django.db import migrations, models


def drop_triggers_on_sqlite(apps, schema_editor):
    from tessera.reports import triggers

    if schema_editor.connection.vendor == "sqlite":
        triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    # Before the migrations that rebuild, on SQLite, the tables the triggers' bodies name.
    run_before = [
        ("cards", "0003_fewer_indexes"),
        ("ledger", "0006_fewer_indexes"),
        ("members", "0003_fewer_indexes"),
        ("sales", "0011_fewer_indexes"),
        ("tenancy", "0007_fewer_indexes"),
        ("tiers", "0004_fewer_indexes"),
    ]

    dependencies = [
        ('reports', '0003_member_visits_and_counts'),
        ('tenancy', '0006_role_granted_by_default'),
    ]

    operations = [
        migrations.RunPython(drop_triggers_on_sqlite, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='entrydelta',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='ledgerday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='lotflowday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='membercount',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='membervisits',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='saledelta',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        migrations.AlterField(
            model_name='salesday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
    ]
