"""Fixtures for the integrations tests: a shop connection that signs like Shopify, a loopback receiver."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.factories import StoreFactory

from tessera.integrations import services
from tessera.integrations.models import Connection, Platform
from tessera.sales.models import SalesSettings

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    data.update(changes)
    return data


class Shop:
    """A shop posting webhooks to its connection's address, signed with `secret`."""

    def __init__(self, client: Any, connection: Connection, secret: str) -> None:
        self.client, self.connection, self.secret = client, connection, secret
        self.prefix = {Platform.HARAVAN: "X-Haravan", Platform.SAPO: "X-Sapo"}.get(
            connection.platform, "X-Shopify"
        )

    def post(
        self,
        topic: str,
        data: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        webhook_id: str | None = None,
        triggered_at: datetime | None = None,
        stamp: bool = True,
        to: Connection | None = None,
    ) -> Any:
        body = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
        signature_name = services.HEADERS[self.connection.platform][0]
        headers = {
            f"{self.prefix}-Topic": topic,
            signature_name: services.shop_signature(secret or self.secret, body),
            f"{self.prefix}-Webhook-Id": webhook_id or str(uuid.uuid4()),
        }
        if stamp:
            headers[f"{self.prefix}-Triggered-At"] = (triggered_at or timezone.now()).isoformat()
        url = reverse("integrations:receive", args=[(to or self.connection).token])
        return self.client.post(url, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def rules(merchant):
    """VND: 1 point per 10,000 đồng, no pending window."""
    return SalesSettings.for_merchant(merchant)


@pytest.fixture
def online_store(merchant):
    return StoreFactory(merchant=merchant, code="online", name="Cửa hàng online")


@pytest.fixture
def shop(client, merchant, online_store, rules):
    issued = services.create_connection(
        merchant=merchant, platform=Platform.SHOPIFY, name="Shopify", store=online_store
    )
    return Shop(client, issued.obj, issued.secret)


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers with the next queued status."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tessera"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True  # the receiver is on loopback
    server = Receiver()
    yield server
    server.close()
