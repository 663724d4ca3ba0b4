"""The one way out to an address a merchant typed: SMS providers, outbound webhooks.

A merchant admin controls these URLs, so they must not become a way into our own network (SSRF). The
rule, applied when the address is saved (`validate_url`, a clear refusal in the form) and again at
every request (`post`):

- the scheme is https (plain http only where loopback is allowed: a fake provider in tests);
- the host is resolved, and *every* address it resolves to must be public: loopback, private,
  link-local (169.254.169.254, the cloud metadata service), shared (100.64/10), multicast, reserved and
  unspecified addresses are refused, and so are IPv6 forms that embed one (IPv4-mapped, 6to4, NAT64)
  and unique-local ones (fd00:ec2::254). Numeric spellings such as `http://2130706433/` resolve to
  127.0.0.1 and are refused like it;
- the connection goes to the address that was checked, not to the name resolved a second time, so a
  DNS answer that changes between the check and the connection (rebinding) changes nothing. TLS still
  verifies the certificate against the host name (SNI);
- redirects are not followed: a 3xx is an answer like any other non-2xx, i.e. a failure.

The setting TESSERA_OUTBOUND_ALLOW_LOOPBACK (default False, never on in production) lets loopback
through, for tests and demos whose fake provider or receiver listens on 127.0.0.1. Nothing else.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from tessera.core.errors import ValidationFailed

#: At most this much of an answer is read.
MAX_ANSWER_BYTES = 65536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits: the IPv4 address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: Not "global" by IANA's registry, though Python 3.11 calls them so: IETF protocol assignments
#: (192.0.0.192 is a cloud metadata address).
_ALSO_REFUSED = (ipaddress.ip_network("192.0.0.0/24"),)


class OutboundError(Exception):
    """The request could not be made: refused by the guard, or network trouble. `detail` says why
    (no personal data), short enough to keep on a delivery row."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail[:300]


class OutboundRefused(OutboundError):
    """The guard refused the address."""


def allow_loopback() -> bool:
    return bool(getattr(settings, "TESSERA_OUTBOUND_ALLOW_LOOPBACK", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_allowed_address(address: IPAddress) -> bool:
    """Public unicast, or loopback when the setting allows it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_allowed_address(embedded)
        if address.teredo is not None:
            return False
    if address.is_loopback:
        return allow_loopback()
    return (
        address.is_global
        and not (address.is_multicast or address.is_reserved or address.is_link_local)
        and not any(address in network for network in _ALSO_REFUSED)
    )


def _check_scheme(scheme: str) -> None:
    if scheme == "https" or (scheme == "http" and allow_loopback()):
        return
    raise OutboundRefused("refused: the address must be https")


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise OutboundError(f"cannot resolve {host}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str
    #: The checked address the connection goes to.
    address: IPAddress


def vet(url: str) -> Target:
    """Check `url` now and pick the address to connect to; raises OutboundRefused / OutboundError."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("refused: not a valid address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("refused: not an http(s) address")
    _check_scheme(parts.scheme)
    addresses = _resolve(parts.hostname, port)
    if not addresses or not all(is_allowed_address(a) for a in addresses):
        raise OutboundRefused("refused: not a public address")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


def validate_url(url: str) -> None:
    """When an address is saved: refuse what `post` would refuse, with a message for the form.

    A name that does not resolve (yet) is accepted here; it is checked again at each request."""
    try:
        vet(url)
    except OutboundRefused as refused:
        if "https" in refused.detail:
            raise ValidationFailed(_("Enter an https:// address."), code="https_required") from None
        if "public" in refused.detail:
            raise ValidationFailed(
                _(
                    "This address leads to a private or local network; "
                    "enter the public address of the service."
                ),
                code="address_not_public",
            ) from None
        raise ValidationFailed(_("Enter an http(s) address."), code="invalid_url") from None
    except OutboundError:
        return


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.host, target.port, timeout=timeout)
    address = str(target.address)

    def connect_to_vetted(
        _host_port: tuple[str, int], timeout: float | None = None, source_address: object = None
    ) -> socket.socket:
        # The checked address, not the name: http.client would resolve the name again. TLS wraps
        # this socket with server_hostname=target.host, so the certificate is still verified.
        # socket.create_connection would call getaddrinfo again; a numeric address needs no lookup.
        if not is_allowed_address(target.address):
            raise OutboundRefused("refused: not a public address")
        family = socket.AF_INET6 if target.address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, target.port))
        except OSError:
            sock.close()
            raise
        return sock

    connection._create_connection = connect_to_vetted  # type: ignore[attr-defined]
    return connection


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to `url` through the guard. Any HTTP answer is returned (a redirect included, not
    followed); a refusal or network trouble raises OutboundError."""
    target = vet(url)
    connection = _connection(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.read(MAX_ANSWER_BYTES))
    except OutboundRefused:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundError(str(getattr(exc, "reason", None) or exc) or type(exc).__name__) from None
    finally:
        connection.close()
