"""On PostgreSQL the point of sale's statements are bound and prepared on the server (issue 13 item 5:
"server-side prepared statements on PostgreSQL where they pay"; settings `DB_PREPARE_THRESHOLD`).

Django's `server_side_binding` sends the parameters apart from the statement, and psycopg prepares a
statement on the connection once it has run `prepare_threshold` times: from then on PostgreSQL skips
parsing and planning it, and the web process skips quoting the values into the text.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.test_statement_budgets import a_till

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements"),
]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_settings_bind_on_the_server_and_prepare_after_five_runs() -> None:
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5
    assert connection.features.uses_server_side_binding


def test_a_lookup_repeated_runs_prepared_statements() -> None:
    till = a_till(tiered=False)
    for phone in till.phones * 2:  # more runs than the threshold, with different values
        assert till.get(f"/lookup?phone=%2B{phone[1:]}").status_code == 200
    statements = prepared_statements()
    # The key (with its merchant and store) and the member are each read by one prepared statement.
    assert any('"tenancy_apikey"' in sql for sql in statements), statements
    assert any('"members_member"' in sql for sql in statements), statements


def test_values_with_quotes_and_backslashes_travel_unchanged() -> None:
    """Nothing is quoted into the text any more: a value is a value, whatever it holds."""
    from tessera.members.models import Member
    from tessera.members.services import register_member
    from tessera.tenancy.services import create_merchant

    merchant = create_merchant(name="Quotes", slug="quotes", currency="VND")
    name = 'O\'Brien \\ "Nguyễn" %s $1 ;--'
    member = register_member(merchant=merchant, full_name=name, phone="+84901234567")
    for _ in range(7):
        assert Member.objects.get(pk=member.pk, full_name=name).full_name == name
