"""A small SMS interface. Backends: `console` (default) and `file` (JSON lines in VAR_DIR/sms.log).

Setting SMS_BACKEND names a backend ("console", "file") or a dotted path to a class with `send(message)`;
the marketing app adds real providers behind the same interface (I1).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from tessera.tenancy.models import Merchant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    merchant_id: int
    phone: str
    text: str
    sent_at: datetime


class SmsBackend(Protocol):
    def send(self, message: SmsMessage) -> None: ...


class ConsoleBackend:
    """Logs the message: enough for a demo and for development."""

    def send(self, message: SmsMessage) -> None:
        # Logs are not a place for personal data or one-time codes: the number is masked, and the text
        # (which may carry a code) is shown only in a DEBUG development server.
        masked = "•" * max(len(message.phone) - 4, 0) + message.phone[-4:]
        text = message.text if settings.DEBUG else f"<{len(message.text)} characters>"
        logger.info("SMS to %s (merchant %s): %s", masked, message.merchant_id, text)


class FileBackend:
    """Appends one JSON object per message to VAR_DIR/sms.log, so tests and demos can read codes."""

    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        path = Path(settings.VAR_DIR) / "sms.log"
        line = json.dumps({**asdict(message), "sent_at": message.sent_at.isoformat()}, ensure_ascii=False)
        with self._lock, path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")


BACKENDS: dict[str, type[SmsBackend]] = {"console": ConsoleBackend, "file": FileBackend}


def get_backend() -> SmsBackend:
    name = getattr(settings, "SMS_BACKEND", "console")
    backend_class = BACKENDS.get(name) or import_string(name)
    return backend_class()


def send_sms(*, merchant: Merchant, phone: str, text: str) -> SmsMessage:
    message = SmsMessage(merchant_id=merchant.pk, phone=phone, text=text, sent_at=timezone.now())
    get_backend().send(message)
    return message
