"""A merchant's configuration from memory, current on the very next request (issue 13 item 4).

What the point-of-sale path reads on every request and changes only in the back office — the points
policy and sales settings, the earning rules in force, the tier program and its tiers, the webhook
endpoints — is kept in Django's cache (alias `config`: local memory, or Redis when `REDIS_URL` is set),
under a key holding the merchant's `config_version`.

- Every change to such a row gives the merchant a new `config_version` in the same transaction
  (`bump`, connected by each owning app to its models' save and delete signals). The version is a
  random number, not a counter, so a key can never name the data of another database, another test or
  a rolled-back change.
- A request reads the version once, with its API key (`observe`), and every cached read in it uses that
  version: a change committed by any worker is seen by the next request in every worker, and no entry
  ever needs deleting. A request that changes the configuration stops using the cache for that merchant
  at once (`bump` forgets the version), so it never stores what might roll back.
- Outside a request that observed a version (back-office pages, tasks, tests calling services) reads go
  to the database as before.
- In front of the shared cache each process keeps what it read in a small dict of its own (`_LOCAL`,
  oldest out first): an entry's key names its version, so it can never be stale, and a steady till
  request reads its nine entries without unpickling them (local memory) or nine round trips (Redis).
  The values are shared by the requests of the process: callers read them and never change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.signals import request_finished, request_started
from django.db.models.signals import post_delete, post_save

from tessera.tenancy.models import Merchant, new_config_version

T = TypeVar("T")

ALIAS = "config"
#: How long an entry may sit unused; a new version makes it unreachable long before.
TIMEOUT = 24 * 3600

_versions: ContextVar[dict[int, int] | None] = ContextVar("tessera_config_versions", default=None)
_MISSING = object()
#: This process's entries by key, oldest first; at most LOCAL_SIZE.
_LOCAL: dict[str, Any] = {}
LOCAL_SIZE = 2048


def observe(merchant_id: int, version: int) -> None:
    """This request reads the merchant's configuration as of `version` (read with its API key)."""
    known = _versions.get()
    if known is None:
        known = {}
        _versions.set(known)
    known[merchant_id] = version


@contextmanager
def observed(merchant_id: int) -> Iterator[None]:
    """A long job of one merchant outside a request (the tier review) reads the merchant's configuration
    from the cache as of the version current when it starts, as one request would: the receivers of
    the events it publishes, one per change, then read it from memory, not once per event."""
    version = Merchant.objects.filter(pk=merchant_id).values_list("config_version", flat=True).first()
    previous = _versions.get()
    if version is not None:
        _versions.set({**(previous or {}), merchant_id: version})
    try:
        yield
    finally:
        _versions.set(previous)


def forget(**_kwargs: Any) -> None:
    """No version known any more (the request ended, or a new one starts)."""
    _versions.set(None)


request_started.connect(forget, dispatch_uid="tessera-config-forget-start")
request_finished.connect(forget, dispatch_uid="tessera-config-forget-end")


def cached(merchant_id: int, name: str, load: Callable[[], T]) -> T:
    """`load()`'s value for the merchant, from the cache when this request observed a version."""
    known = _versions.get()
    version = known.get(merchant_id) if known else None
    if version is None:
        return load()
    key = f"tessera:config:{merchant_id}:{version}:{name}"
    value = _LOCAL.get(key, _MISSING)
    if value is not _MISSING:
        return value
    cache = caches[ALIAS]
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = load()
        if (_versions.get() or {}).get(merchant_id) != version:  # changed by the load itself
            return value
        cache.set(key, value, TIMEOUT)
    if len(_LOCAL) >= LOCAL_SIZE:
        del _LOCAL[next(iter(_LOCAL))]
    _LOCAL[key] = value
    return value


def bump(merchant_id: int) -> None:
    """The merchant's configuration changed: a new version, written in the caller's transaction."""
    known = _versions.get()
    if known:
        known.pop(merchant_id, None)
    Merchant.objects.filter(pk=merchant_id).update(config_version=new_config_version())


def bump_on_change(*models: type[Any], merchant_of: Callable[[Any], int | None] | None = None) -> None:
    """Give the merchant a new version whenever a row of `models` is saved or deleted.
    `merchant_of(instance)` finds the merchant (default: the row's `merchant_id`)."""

    def changed(sender: type[Any], instance: Any, **_kwargs: Any) -> None:
        merchant_id = merchant_of(instance) if merchant_of else instance.merchant_id
        if merchant_id is not None:
            bump(merchant_id)

    for model in models:
        uid = f"tessera-config-{model._meta.label_lower}"
        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid + "-save")
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid + "-delete")
