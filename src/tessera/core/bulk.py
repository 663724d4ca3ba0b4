"""Set-based bulk work (issue 16): a chunk of ids bound as one value, whatever the chunk's size.

The nightly jobs write a chunk of accounts or members in a few statements (`UPDATE … FROM`,
`INSERT … SELECT … RETURNING`). Their chunk is "one of these ids": bound as one array on PostgreSQL
(`= ANY(%s)`), as one JSON array on SQLite (`IN (SELECT value FROM json_each(%s))`). A placeholder per
id costs the client more to bind than the statement costs the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection


@dataclass(frozen=True)
class IdList:
    """`sql`: " = ANY(%s)" or " IN (SELECT value FROM json_each(%s))", to follow a column; `param`
    turns a list of ids into its one bound value."""

    sql: str
    param: Callable[[Sequence[int]], list[int] | str]


def id_list() -> IdList:
    """How this connection's database says "is one of a list of ids" with one bound value."""
    if connection.vendor == "postgresql":
        return IdList(sql="= ANY(%s)", param=list)
    return IdList(sql="IN (SELECT value FROM json_each(%s))", param=lambda ids: json.dumps(list(ids)))
