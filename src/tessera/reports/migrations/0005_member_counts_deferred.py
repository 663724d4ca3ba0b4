"""The members' insert trigger learns to count into the transaction's pending counts inside
`tessera.reports.triggers.member_counts_deferred` (issue 16): the triggers are installed again."""

from django.db import migrations


def install(apps, schema_editor):
    from tessera.reports import triggers

    if schema_editor.connection.vendor == "postgresql":  # SQLite's are unchanged (and put back after migrate)
        triggers.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_fewer_indexes")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
