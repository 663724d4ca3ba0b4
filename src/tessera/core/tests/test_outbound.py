"""Issue 12: the outbound guard (`core.outbound`) keeps merchant-given addresses out of our network."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tessera.core import outbound
from tessera.core.errors import ValidationFailed


class Server:
    """An HTTP server on 127.0.0.1 that records each request; `answer` is (status, headers)."""

    def __init__(self, answer: tuple[int, dict[str, str]] = (200, {})) -> None:
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"path": self.path, **dict(self.headers.items())})
                self.send_response(answer[0])
                for name, value in answer[1].items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


@pytest.fixture
def guard_on(settings):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = False


@pytest.fixture
def loopback_allowed(settings):
    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True


def _post(url: str) -> outbound.Answer:
    return outbound.post(url, body=b"{}", headers={"Content-Type": "application/json"}, timeout=5)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
        "100.100.100.200",  # Alibaba metadata, shared address space
        "192.0.0.192",  # Oracle metadata
        "0.0.0.0",  # noqa: S104 (an address to refuse, not one we bind)
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",  # AWS metadata over IPv6
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
        "2001:db8::1",
    ],
)
def test_private_local_and_metadata_addresses_are_refused(guard_on, address):
    assert not outbound.is_allowed_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "203.113.131.1", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(guard_on, address):
    assert outbound.is_allowed_address(ipaddress.ip_address(address))


def test_the_setting_allows_loopback_and_nothing_else(loopback_allowed):
    addresses = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.1", "169.254.169.254", "fd00::1")
    assert [a for a in addresses if outbound.is_allowed_address(ipaddress.ip_address(a))] == [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/sms",
        "https://2130706433/sms",  # 127.0.0.1 as one decimal number
        "https://0x7f.1/sms",
        "https://0177.0.0.1/sms",
        "https://localhost/sms",
        "https://[::1]/sms",
        "https://[::ffff:7f00:1]/sms",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.0.8:8443/sms",
    ],
)
def test_numeric_and_local_spellings_of_private_hosts_are_refused(guard_on, url):
    with pytest.raises(outbound.OutboundRefused, match="not a public address"):
        outbound.vet(url)
    with pytest.raises(ValidationFailed) as refused:
        outbound.validate_url(url)
    assert refused.value.code == "address_not_public"


@pytest.mark.parametrize("url", ["ftp://sms.example.com/", "file:///etc/passwd", "https://", "https://[::1"])
def test_only_http_addresses_are_accepted(guard_on, url):
    with pytest.raises(ValidationFailed) as refused:
        outbound.validate_url(url)
    assert refused.value.code == "invalid_url"


def test_plain_http_is_refused_unless_loopback_is_allowed(guard_on, settings):
    with pytest.raises(ValidationFailed) as refused:
        outbound.validate_url("http://sms.example.com/send")
    assert refused.value.code == "https_required"

    settings.TESSERA_OUTBOUND_ALLOW_LOOPBACK = True
    outbound.validate_url("http://sms.example.com/send")


def test_a_name_that_does_not_resolve_yet_may_be_saved_and_is_checked_when_used(guard_on):
    outbound.validate_url("https://sms.example.invalid/send")

    with pytest.raises(outbound.OutboundError, match="cannot resolve"):
        _post("https://sms.example.invalid/send")


def test_a_loopback_server_gets_no_request_while_the_guard_is_on(guard_on, server):
    with pytest.raises(outbound.OutboundRefused):
        _post(server.url.replace("http://", "https://"))
    with pytest.raises(outbound.OutboundRefused):
        _post(f"https://2130706433:{server.port}/hook")

    assert server.requests == []


def test_a_name_is_resolved_once_and_the_connection_goes_to_the_checked_address(
    loopback_allowed, server, monkeypatch
):
    """DNS rebinding: a second answer (here a metadata address) is never asked for nor used."""
    answers = iter(["127.0.0.1", "169.254.169.254"])
    resolved: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)

    answer = _post(f"http://rebind.example:{server.port}/hook?x=1")

    assert answer.status == 200
    assert resolved == ["rebind.example"]
    [request] = server.requests
    assert request["path"] == "/hook?x=1" and request["Host"] == f"rebind.example:{server.port}"


def test_a_name_with_one_private_address_among_public_ones_is_refused(guard_on, monkeypatch):
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port)),
        ]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)

    with pytest.raises(outbound.OutboundRefused):
        _post("https://mixed.example/hook")


def test_redirects_are_answers_not_followed(loopback_allowed, server):
    """A provider answering 302 to a loopback address gets no second request from us."""
    target = Server()
    redirecting = Server((302, {"Location": target.url}))
    try:
        answer = _post(redirecting.url)
    finally:
        redirecting.close()
        target.close()

    assert answer.status == 302
    assert len(redirecting.requests) == 1 and target.requests == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_names_the_host_and_verifies_its_certificate_while_connecting_to_the_checked_address(
    loopback_allowed, monkeypatch, tmp_path
):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [
            str(shutil.which("openssl")),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=other",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setattr(
        outbound.socket,
        "getaddrinfo",
        lambda host, p, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p))],
    )
    try:
        with pytest.raises(outbound.OutboundError, match="CERTIFICATE_VERIFY_FAILED"):
            _post(f"https://sms.tessera.example:{port}/send")
    finally:
        thread.join(5)
        listener.close()

    assert names == ["sms.tessera.example"]
