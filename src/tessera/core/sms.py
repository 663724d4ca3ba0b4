"""A small SMS interface. Backends: `console` (default), `file` (JSON lines in VAR_DIR/sms.log) and
`HttpBackend`, a generic JSON-over-HTTPS provider adapter, which calls the merchant's address only through
`core.outbound` (no loopback or private addresses, no redirects).

Setting SMS_BACKEND names the installation's backend ("console", "file") or a dotted path to a class with
`send(message)`. A merchant may have its own provider (marketing's channel settings, I1): the marketing
app registers a resolver that returns that merchant's backend, so one-time codes and marketing messages
leave through the same provider. `send` returns the provider's message id, which delivery receipts
quote back.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from tessera.core import outbound

if TYPE_CHECKING:
    from tessera.tenancy.models import Merchant

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SmsMessage:
    merchant_id: int
    phone: str
    text: str
    sent_at: datetime
    #: The sender name (brand name) the provider shows, when the merchant registered one.
    sender: str = ""
    #: Our own reference (a marketing message id), passed to providers that echo it in receipts.
    reference: str = ""


class SmsSendError(Exception):
    """The provider did not accept the message; `detail` says why (no personal data)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail[:300]


class SmsBackend(Protocol):
    def send(self, message: SmsMessage) -> str:
        """Hand the message to the provider; return its message id. Raise SmsSendError on refusal."""
        ...


def _local_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class ConsoleBackend:
    """Logs the message: enough for a demo and for development."""

    def send(self, message: SmsMessage) -> str:
        # Logs are not a place for personal data or one-time codes: the number is masked, and the text
        # (which may carry a code) is shown only in a DEBUG development server.
        masked = "•" * max(len(message.phone) - 4, 0) + message.phone[-4:]
        text = message.text if settings.DEBUG else f"<{len(message.text)} characters>"
        logger.info("SMS to %s (merchant %s): %s", masked, message.merchant_id, text)
        return _local_id("console")


class FileBackend:
    """Appends one JSON object per message to VAR_DIR/sms.log, so tests and demos can read codes."""

    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> str:
        path = Path(settings.VAR_DIR) / "sms.log"
        provider_id = _local_id("file")
        line = json.dumps(
            {**asdict(message), "sent_at": message.sent_at.isoformat(), "provider_id": provider_id},
            ensure_ascii=False,
        )
        with self._lock, path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
        return provider_id


class HttpBackend:
    """A generic JSON-over-HTTPS SMS provider.

    POST `url` with `Authorization: Bearer <api_key>` and the body
    `{"to": "+84…", "text": "…", "sender": "BRAND", "reference": "…"}`; a 2xx answer carries
    `{"id": "<provider message id>"}`. Anything else is a refusal (SmsSendError).
    """

    def __init__(self, *, url: str, api_key: str, sender: str = "") -> None:
        self.url, self.api_key, self.sender = url, api_key, sender

    def send(self, message: SmsMessage) -> str:
        body = json.dumps(
            {
                "to": message.phone,
                "text": message.text,
                "sender": message.sender or self.sender,
                "reference": message.reference,
            },
            ensure_ascii=False,
        ).encode()
        try:
            answer = outbound.post(
                self.url,
                body=body,
                timeout=TIMEOUT_SECONDS,
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Authorization": f"Bearer {self.api_key}",
                    "User-Agent": "Tessera-SMS/1",
                },
            )
        except outbound.OutboundError as exc:
            raise SmsSendError(exc.detail) from None
        if not 200 <= answer.status < 300:
            raise SmsSendError(f"HTTP {answer.status}")
        try:
            provider_id = str(json.loads(answer.body)["id"])
        except (ValueError, KeyError, TypeError):
            raise SmsSendError("the provider's answer has no message id") from None
        if not provider_id:
            raise SmsSendError("the provider's answer has no message id")
        return provider_id


BACKENDS: dict[str, type[ConsoleBackend | FileBackend]] = {"console": ConsoleBackend, "file": FileBackend}

#: Functions (merchant id → backend or None) consulted before the installation's backend.
_resolvers: list[Callable[[int], SmsBackend | None]] = []


def register_resolver(resolver: Callable[[int], SmsBackend | None]) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def get_backend() -> SmsBackend:
    """The installation's backend (setting SMS_BACKEND)."""
    name = getattr(settings, "SMS_BACKEND", "console")
    backend_class = BACKENDS.get(name) or import_string(name)
    backend: SmsBackend = backend_class()
    return backend


def backend_for(merchant_id: int) -> SmsBackend:
    """The merchant's own provider when it has one, else the installation's backend."""
    for resolver in _resolvers:
        backend = resolver(merchant_id)
        if backend is not None:
            return backend
    return get_backend()


def send_sms(*, merchant: Merchant, phone: str, text: str) -> SmsMessage:
    """Send a service text (a one-time code) at once, through the merchant's provider."""
    message = SmsMessage(merchant_id=merchant.pk, phone=phone, text=text, sent_at=timezone.now())
    backend_for(merchant.pk).send(message)
    return message
