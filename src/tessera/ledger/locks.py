"""Account rows locked by the query that finds them (issue 13).

A writer of the ledger locks the account it changes (`SELECT … FOR UPDATE`). When the caller already has
to find the account by something else — the member a till names by phone — it finds and locks it in that
one statement (`cards.customers`, a prepared `select_for_update` query) and marks the rows with
`mark_locked`: the ledger's writers then use them as they are instead of locking them again. A row
marked in another transaction is locked again as usual.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from tessera.ledger.models import Account

_MARK = "_locked_in"


def _transaction() -> Any:
    """The outermost atomic block: alive exactly as long as the transaction (None outside one)."""
    return connection.atomic_blocks[0] if connection.in_atomic_block else None


def mark_locked(rows: list[Account]) -> list[Account]:
    """Mark `rows`, just read `FOR UPDATE` in the current transaction, as locked in it."""
    block = _transaction()
    if block is None:
        raise RuntimeError("accounts are locked inside a transaction")
    for row in rows:
        row.__dict__[_MARK] = block
    return rows


def holds_lock(account: Account) -> bool:
    """Whether `account` was marked by `mark_locked` in the current transaction."""
    block = account.__dict__.get(_MARK)
    return block is not None and block is _transaction()
