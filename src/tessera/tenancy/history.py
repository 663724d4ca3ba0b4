"""Who changed what, by which key (issue 17): history rows written while an API key acts name the key.

django-simple-history names a signed-in user (`history_user`); an API key is no user. An endpoint that
changes something runs its service inside `changes_by_key(key)`, and every history row written meanwhile —
by whichever service, on whichever model — gets `history_change_reason = "api-key:<prefix>"` unless the
service gave a reason of its own. The key's prefix is unique and kept after the key is revoked, so the
back office's history pages say which key it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from tessera.tenancy.models import ApiKey

_acting_key: ContextVar[str | None] = ContextVar("tessera_acting_key", default=None)


def key_reason(key: ApiKey) -> str:
    """The change reason that names `key` in history."""
    return f"api-key:{key.prefix}"


@contextmanager
def changes_by_key(key: ApiKey) -> Iterator[None]:
    token = _acting_key.set(key_reason(key))
    try:
        yield
    finally:
        _acting_key.reset(token)


@receiver(pre_create_historical_record)
def _name_the_key(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    reason = _acting_key.get()
    if reason and not history_instance.history_change_reason:
        history_instance.history_change_reason = reason
