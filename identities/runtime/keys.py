"""Verification keys: which JWKs are eligible, and which algorithm each one may verify.

Keys only ever come from configuration an administrator set up (a SPIFFE trust bundle, an issuer's JWKS,
a public key registered on an identity), never from the token being verified (RFC 8725 §3.10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from agentiam import jsonsafe

JWT_SVID_USE = "jwt-svid"
SIGNATURE_USE = "sig"

# Each algorithm verifies with exactly one key type (and curve), so a token cannot pick how its key is read.
ALGORITHM_KEYS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class InvalidKeySet(ValueError):
    """A key set document that cannot be used as configured."""


class KeyUnavailable(Exception):
    """A key source could not be consulted (e.g. a remote JWKS did not answer)."""


class KeyMismatch(ValueError):
    """A key cannot verify the algorithm the token names."""


class KeySource(Protocol):
    def jwk(self, kid: str) -> Mapping[str, Any] | None:
        """The public JWK published under this kid, or None; may raise KeyUnavailable."""


class KeySet:
    """Keys taken from one JWK set document, by kid."""

    def __init__(self, keys: Mapping[str, Mapping[str, Any]]):
        self._keys = dict(keys)

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | str | bytes, *, use: str) -> KeySet:
        """Keep the keys meant for `use` that carry a kid.

        `use="jwt-svid"` reads a SPIFFE bundle: only entries marked `use: "jwt-svid"` count (X.509 CA
        entries and keys without a kid are skipped). `use="sig"` reads an ordinary JWKS: entries with no
        `use` or `use: "sig"`. Symmetric (`oct`) keys are never taken; private key material is refused.
        """
        if isinstance(document, str | bytes):
            try:
                document = jsonsafe.loads(document, what="The key set")
            except ValueError as error:
                raise InvalidKeySet(f"the key set is not JSON: {error}") from None
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise InvalidKeySet('a key set must be a JSON object with a "keys" list')
        return cls(select_keys(document["keys"], use=use))

    def jwk(self, kid: str) -> Mapping[str, Any] | None:
        return self._keys.get(kid)

    def kids(self) -> list[str]:
        return sorted(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def select_keys(entries: Iterable[Any], *, use: str) -> dict[str, Mapping[str, Any]]:
    keys: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        entry_use = entry.get("use")
        if use == JWT_SVID_USE:
            if entry_use != JWT_SVID_USE:
                continue
        elif entry_use not in (None, SIGNATURE_USE):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("kty") == "oct":
            continue
        if any(member in entry for member in _PRIVATE_MEMBERS):
            raise InvalidKeySet(f"key {kid!r} holds private key material; publish only the public part")
        if kid in keys:
            raise InvalidKeySet(f"two keys share the kid {kid!r}")
        keys[kid] = dict(entry)
    return keys


def key_for(jwk: Mapping[str, Any], algorithm: str) -> PyJWK:
    """The PyJWK that verifies `algorithm` with this JWK, or KeyMismatch saying why it cannot."""
    return _key_for(json.dumps(dict(jwk), sort_keys=True), algorithm)


@lru_cache(maxsize=256)
def _key_for(jwk_text: str, algorithm: str) -> PyJWK:
    jwk = json.loads(jwk_text)
    kid = jwk.get("kid")
    expected = ALGORITHM_KEYS.get(algorithm)
    if expected is None:
        raise KeyMismatch(f"algorithm {algorithm} is not supported")
    kty, crv = expected
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        found = jwk.get("kty") if crv is None else f"{jwk.get('kty')} {jwk.get('crv')}"
        wanted = kty if crv is None else f"{kty} {crv}"
        raise KeyMismatch(f"key {kid!r} is a {found} key; {algorithm} needs a {wanted} key")
    if jwk.get("alg") not in (None, algorithm):
        raise KeyMismatch(f"key {kid!r} is bound to {jwk['alg']}, not {algorithm}")
    try:
        return PyJWK(jwk, algorithm=algorithm)
    except PyJWTError as error:
        raise KeyMismatch(f"key {kid!r} cannot be read: {error}") from None
