"""Rate limits of the API (issue 17): so many requests per window, per key or per client address.

A fixed window: the counter of `who` in the current window (`TESSERA_RATE_LIMITS`, e.g. `600/minute`)
counts every request; past the limit the request is refused with 429 `rate_limited` and a
`Retry-After` of the seconds left in the window.

Where the counters live decides how far a limit holds:
- with `REDIS_URL`, in Redis: one round trip per request (INCR and EXPIRE in one pipeline), shared by
  every worker of every machine, so the limit is the installation's;
- without it, in the process's memory: each worker process counts on its own, so N workers let N times
  the limit through (docs/security.md says so).

Never a database statement: the till's path keeps its statement budget. When Redis cannot be reached
the request is let through and the failure logged: a limit protects the service, it must not stop it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import DomainError

log = logging.getLogger(__name__)

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
#: The limits that apply when `TESSERA_RATE_LIMITS` does not name a scope.
DEFAULT_RATE = "600/minute"


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    retry_after = 1  # seconds; set by every limit that refuses

    def __init__(self, *, limit: int, window: int, retry_after: int) -> None:
        super().__init__(
            _("Too many requests: at most %(limit)s in %(window)s seconds. Retry after %(retry)s seconds.")
            % {"limit": limit, "window": window, "retry": retry_after},
            limit=limit,
            window_seconds=window,
            retry_after=retry_after,
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window: int  # seconds


@cache
def parse_rate(text: str) -> Rate:
    """`600/minute` → Rate(600, 60). A malformed setting fails loudly at the first request."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"a rate is written as <count>/<second|minute|hour|day>, not {text!r}")
    return Rate(int(match[1]), _UNITS[match[2]])


def rate_for(scope: str) -> Rate:
    """The limit of a scope: its own entry, else that of its full scope (`pos:read` → `pos`), else the
    default."""
    limits: dict[str, str] = settings.TESSERA_RATE_LIMITS
    text = limits.get(scope) or limits.get(scope.removesuffix(":read")) or limits.get("default", DEFAULT_RATE)
    return parse_rate(text)


def check(who: str, scope: str, *, now: float | None = None) -> None:
    """Count one request of `who` (a key's prefix, a client address) under `scope`'s limit; raise
    `RateLimited` once the window's count is over it."""
    rate = rate_for(scope)
    now = time.time() if now is None else now
    window_start = int(now) // rate.window * rate.window
    counter = f"tessera:rl:{scope}:{who}:{window_start}"
    window_end = window_start + rate.window
    count = (
        _redis_count(counter, rate.window) if settings.REDIS_URL else _local.count(counter, window_end, now)
    )
    if count is not None and count > rate.limit:
        retry_after = max(1, math.ceil(window_end - now))
        raise RateLimited(limit=rate.limit, window=rate.window, retry_after=retry_after)


@cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a slow Redis must not hold the till; the connection pool is per process.
    return redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)


def _redis_count(counter: str, window: int) -> int | None:
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(counter)
        pipe.expire(counter, window + 1)
        count, _expiry_set = pipe.execute()
    except redis.RedisError:
        log.warning("rate limit not checked: Redis unavailable", exc_info=True)
        return None
    return int(count)


class _LocalCounters:
    """The counters of one process, without Redis: the current windows only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # counter → (window end, count)

    def count(self, counter: str, window_end: int, now: float) -> int:
        with self._lock:
            if len(self._counts) > 10_000:  # forget the windows that are over
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            _end, count = self._counts.get(counter, (window_end, 0))
            self._counts[counter] = (window_end, count + 1)
            return count + 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_local = _LocalCounters()


def reset_local_counters() -> None:
    """Forget the in-process counts (tests)."""
    _local.clear()
