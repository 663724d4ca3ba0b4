"""Transactions of the services: a savepoint only where someone can recover from a refusal (issue 13).

A service wraps its writes in `atomic()`. Called on its own it opens a transaction; called inside another
one it is nested, and Django would set a savepoint so that a refusal raised inside it undoes only its
part, for a caller that catches the error and goes on (a back-office page showing the message, a test).

On the point-of-sale path nobody goes on after a refusal: `core.idempotency.run_once` rolls the whole
transaction back and stores the refusal in a fresh one. It runs the work `without_savepoints()`, where
`atomic()` nests without a savepoint: two round trips fewer per block, and a refusal raised anywhere
marks the whole transaction for rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

_FLAG = "tessera_without_savepoints"


@contextmanager
def atomic() -> Iterator[None]:
    """`transaction.atomic()`, without a savepoint inside `without_savepoints()`. Also a decorator:
    `@atomic()`."""
    with transaction.atomic(savepoint=not getattr(connection, _FLAG, False)):
        yield


@contextmanager
def without_savepoints() -> Iterator[None]:
    """Within an atomic block whose every refusal aborts it whole: nested `atomic()` blocks set no
    savepoint."""
    previous = getattr(connection, _FLAG, False)
    setattr(connection, _FLAG, True)
    try:
        yield
    finally:
        setattr(connection, _FLAG, previous)
