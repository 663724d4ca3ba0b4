"""API keys get a scope (issue 13). Today's keys keep every right they had: a store-bound key, a till,
becomes `pos`; a merchant-wide key becomes `integration`. Every endpoint of that time accepts both."""

from django.db import migrations, models


def scope_existing_keys(apps, schema_editor):  # type: ignore[no-untyped-def]
    ApiKey = apps.get_model("tenancy", "ApiKey")
    ApiKey.objects.filter(store__isnull=True).update(scope="integration")


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0002_merchant_require_two_factor")]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(
                choices=[
                    ("pos", "Point of sale: a till of one store"),
                    ("pos:read", "Point of sale, read only"),
                    ("integration", "Integration: a merchant-wide system"),
                    ("integration:read", "Integration, read only"),
                    ("admin", "Administration: the merchant's management API"),
                    ("admin:read", "Administration, read only"),
                ],
                default="pos",
                help_text="What the key may do. A read-only scope may only read (GET requests).",
                max_length=20,
                verbose_name="scope",
            ),
            preserve_default=False,
        ),
        migrations.RunPython(scope_existing_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("scope__in", ["pos", "pos:read", "integration", "integration:read", "admin", "admin:read"]),
                    models.Q(("scope__in", ["admin", "admin:read"]), ("store__isnull", False), _negated=True),
                ),
                name="api_key_scope_known_and_admin_merchant_wide",
            ),
        ),
    ]
