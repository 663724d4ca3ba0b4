"""Pages of a list in the API: `limit` and `offset`, answered as `{items, count}` (issue 17).

ninja's own limit/offset pagination, bounded: a client generator learns the bounds from the document,
and no offset reaches the database's integer limit.
"""

from __future__ import annotations

from ninja import Field
from ninja.pagination import LimitOffsetPagination

from tessera.core.schemas import Schema

MAX_LIMIT = 200
MAX_OFFSET = 10**9


class Page(LimitOffsetPagination):
    """`limit` rows from `offset` (the first is 0); `count` is the total of the list."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=MAX_LIMIT, description="How many rows (at most 200).")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many rows to skip.")
