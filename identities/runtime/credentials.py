"""Gateway credentials: `aiamgw_<prefix>_<secret>`, kept only as a keyed hash (identities.api_tokens' helpers).

The prefix (12 hex characters) finds the gateway; the digest is checked in constant time, under the current
SECRET_KEY or a fallback, exactly like personal API tokens.
"""

from __future__ import annotations

import secrets

from identities.api_tokens import NewSecret, digest_matches, token_digest

GATEWAY_PREFIX = "aiamgw"
_PREFIX_LENGTH = 12


def new_gateway_credential() -> NewSecret:
    prefix = secrets.token_hex(_PREFIX_LENGTH // 2)
    credential = f"{GATEWAY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(token=credential, prefix=prefix, digest=token_digest(credential))


def bearer(header: str | None) -> str | None:
    """The credential of an `Authorization: Bearer …` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


def gateway_prefix(credential: str | None) -> str | None:
    """The lookup prefix of a well-formed gateway credential, or None."""
    if not credential:
        return None
    parts = credential.split("_", 2)
    if len(parts) != 3 or parts[0] != GATEWAY_PREFIX or len(parts[1]) != _PREFIX_LENGTH or len(parts[2]) < 32:
        return None
    return parts[1]


def credential_matches(credential: str, digest: str) -> bool:
    return digest_matches(credential, digest)
