"""Fetching a remote JWKS (an issuer's keys, a SPIFFE bundle endpoint) without opening an SSRF hole.

Only https (plain http only to a loopback address, and only when the rules allow it, for tests); the
host is resolved here and the connection goes to a resolved address inside the networks an administrator
allowed — pinned, so a second DNS answer cannot redirect it; redirects are refused, not followed; every
read has a timeout and the whole body a size limit. RemoteJwks caches the keys and refreshes at most once
per `refresh_interval` when asked for a kid it does not know.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from identities.runtime.keys import InvalidKeySet, KeySet, KeyUnavailable

PUBLIC = "public"  # an allow-list entry meaning "any globally routable address"
Resolver = Callable[..., list[tuple[Any, ...]]]


class JwksFetchError(KeyUnavailable):
    """The JWKS could not be fetched; the message says why, for the administrator."""


@dataclass(frozen=True)
class FetchRules:
    allowed_networks: tuple[str, ...]  # CIDRs such as "203.0.113.0/24", or "public"
    timeout: float = 5.0
    max_bytes: int = 64 * 1024
    refresh_interval: float = 60.0
    max_age: float = 3600.0
    allow_loopback_http: bool = False
    ca_file: str | None = None  # a private CA for internal endpoints (e.g. a SPIRE bundle endpoint)

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(entry, strict=False) for entry in self.allowed_networks if entry != PUBLIC]


def address_allowed(address: str, rules: FetchRules) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if PUBLIC in rules.allowed_networks and ip.is_global:
        return True
    return any(ip in network for network in rules.networks())


def fetch_jwks(url: str, rules: FetchRules, *, resolver: Resolver = socket.getaddrinfo) -> dict[str, Any]:
    """GET the JWKS document at `url` under `rules`; raises JwksFetchError saying what was refused."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host:
        raise JwksFetchError(f"{url!r} is not an https URL")
    if parts.username or parts.password:
        raise JwksFetchError("a JWKS URL must not carry user information")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise JwksFetchError(f"{url!r} has an invalid port") from None
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise JwksFetchError(f"{host} does not resolve: {error}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allowed = [address for address in addresses if address_allowed(address, rules)]
    if not allowed:
        raise JwksFetchError(
            f"{host} resolves to {', '.join(addresses) or 'nothing'}, outside the networks allowed for key fetching"
        )
    if parts.scheme == "http" and not (
        rules.allow_loopback_http and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in allowed)
    ):
        raise JwksFetchError("a JWKS must be fetched over https")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPS(host, allowed[0], port, rules.timeout, rules.ca_file)
    else:
        connection = _PinnedHTTP(host, allowed[0], port, rules.timeout)
    try:
        connection.request("GET", target, headers={"Accept": "application/json", "User-Agent": "agentiam-jwks"})
        response = connection.getresponse()
        if 300 <= response.status < 400:
            location = response.getheader("Location", "")
            raise JwksFetchError(f"{url} answered {response.status} to {location!r}; redirects are not followed")
        if response.status != 200:
            raise JwksFetchError(f"{url} answered {response.status}")
        body = _read_limited(response, rules)
    except (OSError, http.client.HTTPException) as error:
        raise JwksFetchError(f"{url} could not be read: {error or type(error).__name__}") from None
    finally:
        connection.close()
    try:
        document = json.loads(body)
    except ValueError:
        raise JwksFetchError(f"{url} did not return JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError(f'{url} did not return a JWK set (a JSON object with a "keys" list)')
    return document


def _read_limited(response: http.client.HTTPResponse, rules: FetchRules) -> bytes:
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > rules.max_bytes:
        raise JwksFetchError(f"the JWKS is {length} bytes; at most {rules.max_bytes} are read")
    deadline = time.monotonic() + rules.timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise JwksFetchError(f"the JWKS took longer than {rules.timeout} s to arrive")
        chunk = response.read1(min(16384, rules.max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > rules.max_bytes:
            raise JwksFetchError(f"the JWKS is larger than {rules.max_bytes} bytes")


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


class RemoteJwks:
    """A KeySource backed by a URL: cached, refreshed when stale or (throttled) on an unknown kid.

    When a refresh fails the last good keys stay in use, so an unreachable issuer does not lock out
    workloads whose keys are already known; an unknown kid then raises JwksFetchError.
    """

    def __init__(
        self,
        url: str,
        rules: FetchRules,
        *,
        use: str,
        clock: Callable[[], float] = time.monotonic,
        fetch: Callable[[str, FetchRules], Mapping[str, Any]] = fetch_jwks,
    ):
        self.url = url
        self.rules = rules
        self.use = use
        self._clock = clock
        self._fetch = fetch
        self._keys: KeySet | None = None
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_error: JwksFetchError | None = None
        self._lock = threading.Lock()

    def jwk(self, kid: str) -> Mapping[str, Any] | None:
        now = self._clock()
        keys, fetched_at = self._keys, self._fetched_at
        if keys is not None and fetched_at is not None and now - fetched_at < self.rules.max_age:
            found = keys.jwk(kid)
            if found is not None:
                return found
        with self._lock:
            error = self._refresh(now) if self._may_refresh(now) else None
            keys = self._keys
            found = keys.jwk(kid) if keys is not None else None
            if found is None and (error or (keys is None and self._last_error)):
                raise error or self._last_error  # type: ignore[misc]
            return found

    def _may_refresh(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.rules.refresh_interval

    def _refresh(self, now: float) -> JwksFetchError | None:
        self._attempted_at = now
        try:
            self._keys = KeySet.from_document(self._fetch(self.url, self.rules), use=self.use)
        except JwksFetchError as error:
            self._last_error = error
            return error
        except InvalidKeySet as error:
            self._last_error = JwksFetchError(f"{self.url}: {error}")
            return self._last_error
        self._fetched_at = now
        self._last_error = None
        return None
