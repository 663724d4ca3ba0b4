"""E6: top-ups of stored-value cards."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0001_initial"),
        ("ledger", "0002_entry_append_only_trigger"),
        ("rewards", "0001_initial"),
        ("sales", "0002_integration_channel"),
        ("tenancy", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TopUp",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "amount",
                    models.BigIntegerField(
                        help_text="In the currency's minor unit.", verbose_name="amount paid"
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                ("payment_method", models.CharField(max_length=20, verbose_name="payment method")),
                (
                    "invoice_number",
                    models.CharField(blank=True, max_length=100, verbose_name="invoice number"),
                ),
                ("bonus_points", models.BigIntegerField(default=0, verbose_name="bonus points")),
                ("bonus_value", models.BigIntegerField(default=0, verbose_name="bonus value")),
                ("note", models.CharField(blank=True, max_length=300, verbose_name="note")),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.account",
                        verbose_name="stored-value account",
                    ),
                ),
                (
                    "api_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenancy.apikey",
                    ),
                ),
                (
                    "bonus_points_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.entry",
                    ),
                ),
                (
                    "bonus_rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rewards.topupbonusrule",
                        verbose_name="bonus rule",
                    ),
                ),
                (
                    "bonus_value_entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.entry",
                    ),
                ),
                (
                    "card",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="top_ups",
                        to="cards.card",
                        verbose_name="card",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "entry",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.entry",
                    ),
                ),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenancy.merchant",
                        verbose_name="merchant",
                    ),
                ),
                (
                    "store",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenancy.store",
                        verbose_name="store",
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="updated by",
                    ),
                ),
            ],
            options={
                "verbose_name": "top-up",
                "verbose_name_plural": "top-ups",
                "ordering": ["-created_at", "-pk"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("amount__gt", 0), ("bonus_points__gte", 0), ("bonus_value__gte", 0)
                        ),
                        name="topup_amounts_valid",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("invoice_number", ""), _negated=True),
                        fields=("merchant", "store", "invoice_number"),
                        name="topup_invoice_unique_per_store",
                    ),
                ],
            },
        ),
    ]
