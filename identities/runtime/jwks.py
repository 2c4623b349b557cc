"""Fetching a remote JWKS (an issuer's keys, a SPIFFE bundle endpoint) without opening an SSRF hole.

Only https (plain http only to a loopback address, and only when the rules allow it, for tests), through
`agentiam.outbound`: the connection goes to a resolved address inside the networks an administrator
allowed, pinned; redirects are refused, not followed; every read has a timeout and the whole body a size
limit. RemoteJwks caches the keys and refreshes at most once
per `refresh_interval` when asked for a kid it does not know.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentiam import jsonsafe
from agentiam.outbound import OutboundError, OutboundRules, Resolver, send
from identities.runtime.keys import InvalidKeySet, KeySet, KeyUnavailable


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

    def outbound(self) -> OutboundRules:
        return OutboundRules(
            allowed_networks=self.allowed_networks,
            purpose="key fetching",
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            http="loopback" if self.allow_loopback_http else "never",
            ca_file=self.ca_file,
        )


def fetch_jwks(url: str, rules: FetchRules, *, resolver: Resolver = socket.getaddrinfo) -> dict[str, Any]:
    """GET the JWKS document at `url` under `rules`; raises JwksFetchError saying what was refused."""
    try:
        reply = send(
            "GET",
            url,
            rules.outbound(),
            headers={"Accept": "application/json", "User-Agent": "agentiam-jwks"},
            resolver=resolver,
        )
    except OutboundError as error:
        raise JwksFetchError(str(error)) from None
    if reply.status != 200:
        raise JwksFetchError(f"{url} answered {reply.status}")
    try:
        document = jsonsafe.loads(reply.body, what="The key set")
    except jsonsafe.JsonRefused as error:
        if error.code == jsonsafe.INVALID:
            raise JwksFetchError(f"{url} did not return JSON") from None
        raise JwksFetchError(f"{url} returned a key set past the limits: {error.detail}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError(f'{url} did not return a JWK set (a JSON object with a "keys" list)')
    return document


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
