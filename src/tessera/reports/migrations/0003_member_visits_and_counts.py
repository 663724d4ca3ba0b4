"""Members' visits per month and member counts, kept by triggers (issue 16): see `tessera.reports.triggers`.
Existing sales and members are counted by `tessera rebuild_report_aggregates`. Going back drops every
reports trigger (the code only knows the current ones): migrate forward again to have them."""

import django.db.models.deletion
from django.db import migrations, models


#: The customers report's birthday list, a page at a time in the order it shows them (PostgreSQL; the
#: development SQLite databases are small).
BIRTHDAY_INDEX = """CREATE INDEX IF NOT EXISTS reports_member_birthdays ON members_member
    (merchant_id, EXTRACT(MONTH FROM birthday), EXTRACT(DAY FROM birthday), full_name, id)
    WHERE superseded_by_id IS NULL AND erased_at IS NULL"""


def birthday_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BIRTHDAY_INDEX)


def drop_birthday_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS reports_member_birthdays")


def install(apps, schema_editor):
    from tessera.reports import triggers

    triggers.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from tessera.reports import triggers

    triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_delta_triggers"),
        ("tenancy", "0004_merchant_config_version"),
    ]

    operations = [
        migrations.CreateModel(
            name="MemberCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("home_store_id", models.BigIntegerField(default=0)),
                (
                    "dimension",
                    models.CharField(
                        choices=[
                            ("birthday", "Birthday"),
                            ("region", "Region"),
                            ("occupation", "Occupation"),
                        ],
                        max_length=20,
                    ),
                ),
                ("value", models.CharField(max_length=100)),
                ("members", models.BigIntegerField(default=0)),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenancy.merchant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("merchant", "dimension", "home_store_id", "value"), name="membercount_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="MemberVisits",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("member_id", models.BigIntegerField()),
                ("store_id", models.BigIntegerField()),
                ("card_type_id", models.BigIntegerField(default=0)),
                ("visits", models.BigIntegerField(default=0)),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenancy.merchant"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("merchant", "month", "member_id", "store_id", "card_type_id"),
                        name="membervisits_key",
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
        migrations.RunPython(birthday_index, drop_birthday_index),
    ]
