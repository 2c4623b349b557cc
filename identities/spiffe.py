"""SPIFFE ID validation, following spiffe/spiffe standards/SPIFFE-ID.md.

`spiffe://<trust-domain>/<path>`: scheme `spiffe` (case-insensitive), a non-empty lowercase trust domain of
`[a-z0-9.-_]` (no userinfo, port or percent-encoding, at most 255 bytes), an optional path of non-empty
segments of `[a-zA-Z0-9.-_]` that are not `.` or `..`, no trailing slash, no query or fragment; at most
2048 bytes in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_ID_BYTES = 2048
MAX_TRUST_DOMAIN_BYTES = 255
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")
_SEGMENT = re.compile(r"^[a-zA-Z0-9._-]+$")


class InvalidSpiffeId(ValueError):
    pass


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    path: str  # "" or "/a/b"

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}{self.path}"


def parse_spiffe_id(value: str) -> SpiffeId:
    """Parse and validate; raises InvalidSpiffeId with a reason a person can act on."""
    if not isinstance(value, str) or not value:
        raise InvalidSpiffeId("a SPIFFE ID must not be empty")
    if len(value.encode()) > MAX_ID_BYTES:
        raise InvalidSpiffeId(f"a SPIFFE ID must be at most {MAX_ID_BYTES} bytes")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() != "spiffe":
        raise InvalidSpiffeId("a SPIFFE ID must start with spiffe://")
    if "?" in rest:
        raise InvalidSpiffeId("a SPIFFE ID must not have a query")
    if "#" in rest:
        raise InvalidSpiffeId("a SPIFFE ID must not have a fragment")
    if "%" in rest:
        raise InvalidSpiffeId("a SPIFFE ID must not be percent-encoded")
    trust_domain, slash, path = rest.partition("/")
    if not trust_domain:
        raise InvalidSpiffeId("a SPIFFE ID must have a trust domain")
    if "@" in trust_domain:
        raise InvalidSpiffeId("the trust domain must not carry user information")
    if ":" in trust_domain:
        raise InvalidSpiffeId("the trust domain must not carry a port")
    if len(trust_domain.encode()) > MAX_TRUST_DOMAIN_BYTES:
        raise InvalidSpiffeId(f"the trust domain must be at most {MAX_TRUST_DOMAIN_BYTES} bytes")
    if not _TRUST_DOMAIN.match(trust_domain):
        raise InvalidSpiffeId("the trust domain may contain only lowercase letters, digits, '.', '-' and '_'")
    if slash:
        if not path:
            raise InvalidSpiffeId("a SPIFFE ID must not end with '/'")
        for segment in path.split("/"):
            if segment == "":
                raise InvalidSpiffeId("the path must not have empty segments or a trailing '/'")
            if segment in {".", ".."}:
                raise InvalidSpiffeId("the path must not have '.' or '..' segments")
            if not _SEGMENT.match(segment):
                raise InvalidSpiffeId("path segments may contain only letters, digits, '.', '-' and '_'")
        path = "/" + path
    return SpiffeId(trust_domain=trust_domain, path=path)


def normalise_spiffe_id(value: str) -> str:
    """The canonical text of a valid SPIFFE ID (the scheme is case-insensitive and written lowercase)."""
    return str(parse_spiffe_id(value))
