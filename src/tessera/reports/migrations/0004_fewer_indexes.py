"""The report tables' merchant keys lose the index their composite keys cover (issue 16)."""

import django.db.models.deletion
from django.db import migrations, models

from tessera.core.migration_operations import AlterIndexOnly


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0003_member_visits_and_counts'),
        ('tenancy', '0006_role_granted_by_default'),
    ]

    operations = [
        AlterIndexOnly(
            model_name='entrydelta',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='ledgerday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='lotflowday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='membercount',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='membervisits',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='saledelta',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
        AlterIndexOnly(
            model_name='salesday',
            name='merchant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenancy.merchant'),
        ),
    ]
