"""Personal API token secrets: how they look, and the keyed hash that is all the database keeps.

A token is `aiam_<prefix>_<secret>`. The prefix (12 hex characters) is not secret: it finds the row and
lets people recognise a token in lists. The stored digest is HMAC-SHA256 of the whole token under a key
derived from SECRET_KEY — a fast keyed hash, not a password hash, because it is checked on every API
request and the secret already has 256 bits of entropy. Rotating SECRET_KEY keeps tokens working while
the old key is listed in SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.utils.crypto import salted_hmac

TOKEN_PREFIX = "aiam"  # noqa: S105 - the public marker of our tokens
_KEY_SALT = "agentiam.identities.api-token"


@dataclass(frozen=True)
class NewSecret:
    token: str
    prefix: str
    digest: str


def token_digest(token: str, *, secret: str | None = None) -> str:
    return salted_hmac(_KEY_SALT, token, secret=secret, algorithm="sha256").hexdigest()


def new_secret() -> NewSecret:
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewSecret(token=token, prefix=prefix, digest=token_digest(token))


def split_token(token: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 12 or len(parts[2]) < 32:
        return None
    return parts[1]


def digest_matches(token: str, digest: str) -> bool:
    for key in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])):
        if hmac.compare_digest(token_digest(token, secret=key), digest):
            return True
    return False
