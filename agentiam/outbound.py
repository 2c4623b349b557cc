"""Outbound HTTP to addresses an administrator allowed, without opening an SSRF hole.

Used for remote JWKS (identities.runtime.jwks) and webhooks (agentiam.notifications.webhooks). The host is
resolved here and the connection goes to a resolved address inside the allowed networks — pinned, so a
second DNS answer cannot redirect it; TLS still verifies the certificate for the host name asked for;
redirects are refused, not followed; every read has a timeout and the whole body a size limit.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

PUBLIC = "public"  # an allow-list entry meaning "any globally routable address"
Resolver = Callable[..., list[tuple[Any, ...]]]


class OutboundError(Exception):
    """The request was refused or failed; the message says why, for the administrator. `transient`: it may
    work later (no answer, a timeout, DNS), as opposed to a refusal of the URL or of the answer."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class OutboundRules:
    allowed_networks: tuple[str, ...]  # CIDRs such as "203.0.113.0/24", or "public"
    purpose: str  # "key fetching", "webhooks": named in refusals
    timeout: float = 5.0
    max_bytes: int = 64 * 1024
    http: str = "never"  # plain http: "never", "loopback" (tests) or "any" (development)
    ca_file: str | None = None  # a private CA for internal endpoints

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.allowed_networks if entry != PUBLIC]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%", 1)[0])


def address_allowed(address: str, rules: OutboundRules) -> bool:
    ip = _ip(address)
    if PUBLIC in rules.allowed_networks and ip.is_global:
        return True
    return any(ip in network for network in rules.networks())


def check_url(url: str, rules: OutboundRules, *, resolver: Resolver = socket.getaddrinfo) -> tuple[str, int, str]:
    """Refuse what `rules` do not allow; the (host, port, first allowed address) to connect to."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise OutboundError(f"{url!r} is not an https URL")
    if parts.username or parts.password:
        raise OutboundError("the URL must not carry user information")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundError(f"{url!r} has an invalid port") from None
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundError(f"{host} does not resolve: {error}", transient=True) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allowed = [address for address in addresses if address_allowed(address, rules)]
    if not allowed:
        raise OutboundError(
            f"{host} resolves to {', '.join(addresses) or 'nothing'}, outside the networks allowed for {rules.purpose}"
        )
    if parts.scheme == "http" and not (
        rules.http == "any" or (rules.http == "loopback" and all(_ip(a).is_loopback for a in allowed))
    ):
        raise OutboundError(f"{rules.purpose} must use https")
    return host, port, allowed[0]


def send(
    method: str,
    url: str,
    rules: OutboundRules,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> Reply:
    """One request under `rules`. A redirect raises OutboundError; any other status is returned."""
    host, port, address = check_url(url, rules, resolver=resolver)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPS(host, address, port, rules.timeout, rules.ca_file)
    else:
        connection = _PinnedHTTP(host, address, port, rules.timeout)
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        if 300 <= response.status < 400:
            location = response.getheader("Location", "")
            raise OutboundError(f"{url} answered {response.status} to {location!r}; redirects are not followed")
        content = _read_limited(response, rules)
        return Reply(response.status, dict(response.getheaders()), content)
    except (OSError, http.client.HTTPException) as error:
        raise OutboundError(f"{url} could not be read: {error or type(error).__name__}", transient=True) from None
    finally:
        connection.close()


def _read_limited(response: http.client.HTTPResponse, rules: OutboundRules) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > rules.max_bytes:
        raise OutboundError(f"the answer is {length} bytes; at most {rules.max_bytes} are read")
    deadline = time.monotonic() + rules.timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise OutboundError(f"the answer took longer than {rules.timeout} s to arrive", transient=True)
        chunk = response.read1(min(16384, rules.max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > rules.max_bytes:
            raise OutboundError(f"the answer is larger than {rules.max_bytes} bytes")


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float, ca_file: str | None):
        self._tls = ssl.create_default_context(cafile=ca_file)
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        # Connect to the address we checked, but verify the certificate for the host name asked for.
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
