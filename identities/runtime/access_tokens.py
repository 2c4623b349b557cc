"""AgentIAM's own access tokens: EdDSA-signed JWTs (`typ: at+jwt`, RFC 9068 claims) with the token key.

Signing goes through PyJWT. Verification on the hot path is done here with `cryptography` directly: the
header must be exactly ours (alg EdDSA, typ at+jwt, a kid, nothing else), the key comes from the database
row of the signing key named by the token's record (never from the token), and the claims are compared
with what was recorded at issuance.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from agentiam import jsonsafe
from audit import keys as signing_keys
from audit.models import SigningKey

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE type, not a secret
ALGORITHM = "EdDSA"
MAX_TOKEN_BYTES = 8 * 1024
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})


class InvalidAccessToken(ValueError):
    pass


@dataclass(frozen=True)
class ParsedToken:
    """A token read but not yet verified: check `signature` over `signing_input` before trusting `claims`."""

    kid: str
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def jti(self) -> str:
        return self.claims["jti"]


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAccessToken("the token is not base64url") from None


def parse(token: object) -> ParsedToken:
    """Read an access token's header and claims; InvalidAccessToken unless it has our exact shape."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES:
        raise InvalidAccessToken("the token must be a compact JWS of at most 8 KiB")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidAccessToken("the token must be a compact JWS (three base64url parts)")
    try:
        header = jsonsafe.loads(_b64decode(parts[0]), what="The token's header")
        claims = jsonsafe.loads(_b64decode(parts[1]), what="The token's claims")
    except jsonsafe.JsonRefused as error:
        raise InvalidAccessToken(error.detail) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidAccessToken("the token's header and claims must be JSON objects")
    if set(header) != _HEADER_MEMBERS or header["alg"] != ALGORITHM or header["typ"] != TOKEN_TYPE:
        raise InvalidAccessToken("the token is not an AgentIAM access token (alg EdDSA, typ at+jwt, kid)")
    kid = header["kid"]
    if not isinstance(kid, str) or not kid or not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidAccessToken("the token has no kid or no jti")
    return ParsedToken(kid, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64decode(parts[2]))


@lru_cache(maxsize=64)
def _public_key(x: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(signing_keys.b64url_decode(x))


def signature_valid(parsed: ParsedToken, public_x: str | None) -> bool:
    if not public_x:
        return False
    try:
        _public_key(public_x).verify(parsed.signature, parsed.signing_input)
    except (InvalidSignature, ValueError):
        return False
    return True


def looks_like_ours(token: str) -> bool:
    """Is this (verified or not) one of our access tokens? Used to refuse them as exchange inputs. Every
    token we sign says typ at+jwt and names our issuer, so the header and claims are enough."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        return False
    try:
        header = jsonsafe.loads(_b64decode(parts[0]))
        claims = jsonsafe.loads(_b64decode(parts[1]))
    except (InvalidAccessToken, ValueError):
        return False
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return False
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in (TOKEN_TYPE, "application/at+jwt"):
        return True
    return claims.get("iss") == settings.RUNTIME_ISSUER


# Unsealed private halves, by kid: a key is unsealed once per process, not per token.
_PRIVATE: dict[str, Ed25519PrivateKey] = {}


def sign(claims: dict[str, Any], *, kid_hint: str | None = None) -> tuple[str, str]:
    """Sign with the active token key (created by `migrate`, see audit.services.signing_key_ensure); returns
    (token, kid).

    `kid_hint` is the active key's id as the caller already read it: when that key is unsealed here already,
    no query is needed."""
    private = _PRIVATE.get(kid_hint) if kid_hint else None
    kid = kid_hint
    if private is None:
        key = signing_keys.active_key(SigningKey.Purpose.TOKEN)
        kid, private = key.kid, _PRIVATE.get(key.kid)
        if private is None:
            _PRIVATE.clear()  # a rotated key's private half leaves memory too
            private = _PRIVATE[key.kid] = signing_keys.private_key(key)
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE})
    return token, kid
