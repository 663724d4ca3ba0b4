"""The signature of our webhooks, both ways: outbound events (K2) and the delivery receipts SMS providers
send us (I1). `t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the receiver recomputes it and
refuses old timestamps, so a captured request cannot be replayed later."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def is_valid_signature(secret: str, body: bytes, header: str, *, now: datetime, max_age: timedelta) -> bool:
    """True for a header made with `secret` over exactly `body`, no older (or newer) than `max_age`."""
    try:
        parts = dict(item.strip().split("=", 1) for item in header.split(",") if item.strip())
        timestamp, given = int(parts["t"]), parts["v1"]
    except (ValueError, KeyError):
        return False
    fresh = abs(now.timestamp() - timestamp) <= max_age.total_seconds()
    return fresh and hmac.compare_digest(given, _mac(secret, body, timestamp))


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
