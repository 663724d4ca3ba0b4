"""Batch numbers per merchant (issue 14): existing batches numbered 1, 2, 3 … per merchant in the order
they were made, in one statement."""

from django.db import migrations, models

NUMBER_EXISTING = """
UPDATE cards_cardbatch SET number = (
    SELECT COUNT(*) FROM cards_cardbatch AS earlier
    WHERE earlier.merchant_id = cards_cardbatch.merchant_id
      AND (earlier.created_at < cards_cardbatch.created_at
           OR (earlier.created_at = cards_cardbatch.created_at AND earlier.id <= cards_cardbatch.id))
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cardbatch",
            name="number",
            field=models.PositiveIntegerField(null=True, verbose_name="batch number"),
        ),
        migrations.RunSQL(NUMBER_EXISTING, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="cardbatch",
            name="number",
            field=models.PositiveIntegerField(verbose_name="batch number"),
        ),
        migrations.AddConstraint(
            model_name="cardbatch",
            constraint=models.UniqueConstraint(
                fields=("merchant", "number"), name="cardbatch_number_unique_per_merchant"
            ),
        ),
    ]
