"""Entries written before reasons had codes: the texts the application itself wrote become codes.

Only texts that can be recognised exactly are converted: the fixed ones (in any of the three languages
they could have been written in) and a sale's "Sale #N" / "Sale #N voided", whose number is the entry's
source ("sale:N"). Everything else (texts with a gift's or rule's name, notes people typed) stays as it
was written and is shown as such. Set-based: one UPDATE per text and language. On PostgreSQL the
append-only trigger is suspended for this migration only, inside its transaction.
"""

from django.db import migrations
from django.utils import translation

FIXED = {
    "top_up": "Top-up",
    "tip_reversed": "Tip reversed",
    "card_refund": "Refund to card",
    "opening_balance": "Opening balance",
}
BY_SALE = {"sale": "Sale #%(sale)s", "sale_voided": "Sale #%(sale)s voided"}
LANGUAGES = ("en", "vi", "zh-hans")


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    postgres = connection.vendor == "postgresql"
    build = "jsonb_build_object" if postgres else "json_object"
    number = "CAST(substr(source, 6) AS bigint)" if postgres else "CAST(substr(source, 6) AS integer)"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only")
        for language in LANGUAGES:
            with translation.override(language):
                for code, text in FIXED.items():
                    cursor.execute(
                        "UPDATE ledger_entry SET reason_code = %s, reason = '' WHERE reason_code = '' AND reason = %s",
                        [code, translation.gettext(text)],
                    )
                for code, text in BY_SALE.items():
                    prefix, _, suffix = translation.gettext(text).partition("%(sale)s")
                    cursor.execute(
                        f"UPDATE ledger_entry SET reason_code = %s, reason = '', reason_args = {build}('sale', {number}) "
                        "WHERE reason_code = '' AND source LIKE 'sale:%%' AND reason = %s || substr(source, 6) || %s",
                        [code, prefix, suffix],
                    )
        if postgres:
            cursor.execute("ALTER TABLE ledger_entry ENABLE TRIGGER ledger_entry_append_only")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_entry_reason_code")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
