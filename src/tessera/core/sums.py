"""Sums of money and points that cannot overflow the database's 64-bit integers (issue 12).

Every single amount is bounded (core.limits), but a sum over many rows, or a product such as
`sale_amount × amount`, may still pass 2^63, where PostgreSQL raises "bigint out of range" and SQLite
"integer overflow". These expressions compute in numeric instead: PostgreSQL's SUM over bigint already
answers numeric, and a product is cast to numeric first; SQLite's TOTAL() adds in double precision,
exact for every total below 2^53 (the largest figure the API sends) and never an error above it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import DecimalField, Func, Sum
from django.db.models.functions import Cast

#: Enough digits for any sum of 64-bit integers over any number of rows.
NUMERIC = DecimalField(max_digits=38, decimal_places=0)


class WideSum(Sum):
    """SUM that answers a Decimal and never overflows: numeric on PostgreSQL, TOTAL() on SQLite."""

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=NUMERIC, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return super().as_sqlite(compiler, connection, function="TOTAL", **extra_context)


class ShareOf(Func):
    """`value × part / whole` rounded toward zero, in numeric on PostgreSQL (SQLite turns an
    overflowing integer product into a double by itself, and divides integers toward zero)."""

    function = "TRUNC"

    def __init__(self, value: Any, part: Any, whole: Any) -> None:
        super().__init__(Cast(value, NUMERIC) * part / whole, output_field=NUMERIC)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return compiler.compile(self.source_expressions[0])
