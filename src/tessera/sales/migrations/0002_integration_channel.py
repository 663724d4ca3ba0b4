"""Sales recorded by an integration (K1): a channel and a confirmation method of their own."""

from django.db import migrations, models

CHANNELS = [
    ("pos", "Point of sale"),
    ("back_office", "Back office"),
    ("integration", "Online shop or other system"),
]
METHODS = [
    ("pin", "Member PIN"),
    ("otp", "One-time code"),
    ("staff", "Second staff member"),
    ("none", "No verification"),
    ("external", "Paid in a connected system"),
]
HISTORY = ("transaction", "historicaltransaction")


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]

    operations = [
        *(
            migrations.AlterField(
                model_name=model,
                name="channel",
                field=models.CharField(
                    choices=CHANNELS, default="pos", max_length=20, verbose_name="channel"
                ),
            )
            for model in HISTORY
        ),
        *(
            migrations.AlterField(
                model_name=model,
                name="confirm_method",
                field=models.CharField(
                    blank=True, choices=METHODS, max_length=10, verbose_name="confirmed with"
                ),
            )
            for model in HISTORY
        ),
        migrations.AlterField(
            model_name="confirmationattempt",
            name="method",
            field=models.CharField(choices=METHODS, max_length=10),
        ),
    ]
