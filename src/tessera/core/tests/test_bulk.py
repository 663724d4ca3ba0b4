"""Bulk writers plan with statistics that can size the tables they grow (core.bulk, issue 16)."""

from __future__ import annotations

import pytest
from django.db import connection
from tests.factories import MemberFactory, MerchantFactory

from tessera.core import bulk
from tessera.members.models import Member

pytestmark = pytest.mark.django_db


def _row_estimate(table: str) -> tuple[float, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples, relpages FROM pg_class WHERE relname = %s", [table])
        reltuples, relpages = cursor.fetchone()
    return float(reltuples), int(relpages)


def test_a_table_never_analysed_is_analysed_with_the_rows_of_the_open_transaction() -> None:
    """Issue 16: an all-or-nothing import grows the members table inside one transaction; once its first
    block is written, a table whose statistics know no rows per page is analysed, the transaction's own
    rows counted, and a table already sized is left alone."""
    merchant = MerchantFactory()
    MemberFactory.create_batch(30, merchant=merchant)
    if connection.vendor != "postgresql":
        assert bulk.analyse_unknown([Member]) == []
        return
    with connection.cursor() as cursor:
        # As a new database has it: never analysed.
        cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE relname = 'members_member'")
    assert bulk.analyse_unknown([Member]) == ["members_member"]
    reltuples, relpages = _row_estimate("members_member")
    assert reltuples >= 30 and relpages > 0
    assert bulk.analyse_unknown([Member]) == []
