"""Staff login throttling (B4, issue 12) on top of django-axes.

Two counters over the same failed attempts, within the cool-off window (`AXES_COOLOFF_TIME`):
- per user name and address (axes' own, `AXES_FAILURE_LIMIT`, 5): a guessed password locks that
  user name from that address only, so a till next to it keeps working;
- per address (`LOGIN_FAILURE_LIMIT_PER_ADDRESS`, 50): spraying many user names from one address is
  stopped too. Its threshold is much higher because a shop's tills share one address.

The address is the client's, not the reverse proxy's: with `TRUSTED_PROXY_COUNT` proxies in front,
it is read from `X-Forwarded-For`, counting that many entries from the right (each proxy appends
the address it was called from; what is further left was written by the client and proves nothing).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest

log = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str | None:
    """The address of whoever called, seen through `TRUSTED_PROXY_COUNT` reverse proxies.

    A header that is missing, too short or not an address falls back to `REMOTE_ADDR`: a client that
    can forge it gains nothing it did not already have."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    chain = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(chain) < proxies:
        return remote
    candidate = chain[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class StaffLoginHandler(AxesDatabaseHandler):
    """axes' database handler with a second, per-address threshold."""

    def _address_failures(self, request: HttpRequest) -> int:
        address = getattr(request, "axes_ip_address", None)
        if not address:
            return 0
        attempts = AccessAttempt.objects.filter(ip_address=address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0

    def _address_locked(self, request: HttpRequest) -> bool:
        return self._address_failures(request) >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        return super().is_locked(request, credentials) or self._address_locked(request)

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials) or not self._address_locked(request):
            return
        log.warning("Login attempts from one address reached the per-address limit; locking it out.")
        request.axes_locked_out = True  # type: ignore[attr-defined]
        request.axes_credentials = credentials  # type: ignore[attr-defined]
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        )
