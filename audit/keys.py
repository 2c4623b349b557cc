"""Signing keys: Ed25519, one purpose each, private halves sealed under the key-encryption key.

The key id is the RFC 7638 JWK thumbprint of the public key, so anyone holding the public JWK can
recompute it. The private half is encrypted with AES-256-GCM under settings.AGENTIAM_KEY_ENCRYPTION_KEY
(from the AGENTIAM_KEK environment variable) with the key id and purpose as associated data, so a
ciphertext copied onto another row does not decrypt. Verifying needs public keys only, never the KEK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from audit.models import SigningKey

Purpose = SigningKey.Purpose
Status = SigningKey.Status
ALGORITHM = "EdDSA"  # the JOSE name PyJWT issues with (RFC 8037)

UNKNOWN_PURPOSE = "Unknown signing key purpose {purpose!r}; use one of: {choices}."
NO_PRIVATE_HALF = "Signing key {kid} is {status}: it no longer signs."
WRONG_KEK = (
    "Signing key {kid} was sealed under another key-encryption key (kek id {expected}, "
    "AGENTIAM_KEK gives {actual}); set AGENTIAM_KEK to the key it was sealed with."
)
UNKNOWN_KEY = "No signing key has the id {kid}."
WRONG_KEY_PURPOSE = "Signing key {kid} signs for {actual}, not for {expected}."
COMPROMISED_KEY = "Signing key {kid} is marked compromised."
NO_ACTIVE_KEY = (
    "There is no active {purpose} signing key: run `manage.py migrate` (it creates missing keys) or "
    "`manage.py prepare_run`."
)


class SigningKeyError(Exception):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_purpose(purpose: str) -> str:
    if purpose not in Purpose.values:
        raise SigningKeyError(UNKNOWN_PURPOSE.format(purpose=purpose, choices=", ".join(Purpose.values)))
    return purpose


def thumbprint(x: str) -> str:
    """RFC 7638: SHA-256 over the required members of the JWK, lexicographically ordered, no whitespace."""
    required = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(required.encode("utf-8")).digest())


def kek_id(kek: bytes | None = None) -> str:
    """A short public name for a key-encryption key (a hash of it), to say which KEK sealed a key."""
    kek = settings.AGENTIAM_KEY_ENCRYPTION_KEY if kek is None else kek
    return hashlib.sha256(b"agentiam-kek-id\x00" + kek).hexdigest()[:16]


def _associated_data(kid: str, purpose: str) -> bytes:
    return f"agentiam-signing-key\x00{kid}\x00{purpose}".encode()


def new_key_material(purpose: str) -> dict:
    """Fields for a new SigningKey row: a fresh Ed25519 key, its thumbprint, the sealed private half."""
    check_purpose(purpose)
    private = Ed25519PrivateKey.generate()
    x = b64url(private.public_key().public_bytes_raw())
    kid = thumbprint(x)
    nonce = os.urandom(12)
    sealed = AESGCM(settings.AGENTIAM_KEY_ENCRYPTION_KEY).encrypt(
        nonce, private.private_bytes_raw(), _associated_data(kid, purpose)
    )
    return {
        "kid": kid,
        "purpose": purpose,
        "public_key": x,
        "private_key_encrypted": nonce + sealed,
        "kek_id": kek_id(),
    }


def private_key(key: SigningKey) -> Ed25519PrivateKey:
    """The key's private half, unsealed; only an active key has one."""
    if key.status != Status.ACTIVE or not key.private_key_encrypted:
        raise SigningKeyError(NO_PRIVATE_HALF.format(kid=key.kid, status=key.status))
    blob = bytes(key.private_key_encrypted)
    try:
        seed = AESGCM(settings.AGENTIAM_KEY_ENCRYPTION_KEY).decrypt(
            blob[:12], blob[12:], _associated_data(key.kid, key.purpose)
        )
    except InvalidTag:
        raise SigningKeyError(WRONG_KEK.format(kid=key.kid, expected=key.kek_id, actual=kek_id())) from None
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(key: SigningKey) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(b64url_decode(key.public_key))


def public_jwk(key: SigningKey) -> dict:
    return {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": ALGORITHM, "use": "sig"}


def jwks(purpose: str) -> dict:
    """The public keys of one purpose that still verify: active and retired (never compromised ones)."""
    keys = SigningKey.objects.filter(purpose=check_purpose(purpose)).exclude(status=Status.COMPROMISED)
    return {"keys": [public_jwk(key) for key in keys.order_by("-created_at")]}


def active_key(purpose: str) -> SigningKey:
    """The purpose's active key. Reads only: keys are created by audit.services.signing_key_ensure, which
    `migrate` (a post_migrate hook) and `prepare_run` run, and `rotate_signing_key` replaces them."""
    key = SigningKey.objects.filter(purpose=check_purpose(purpose), status=Status.ACTIVE).first()
    if key is None:
        raise SigningKeyError(NO_ACTIVE_KEY.format(purpose=purpose))
    return key


def sign(purpose: str, message: bytes) -> tuple[str, bytes]:
    """Sign with the purpose's active key; returns (kid, signature)."""
    key = active_key(purpose)
    return key.kid, private_key(key).sign(message)


def verify(kid: str, message: bytes, signature: bytes, *, purpose: str, allow_compromised: bool = False) -> SigningKey:
    """Check `signature` over `message` with the key `kid`, which must have `purpose`. Retired keys verify
    (what they signed stays valid); compromised keys only when the caller asks. Raises SigningKeyError or
    cryptography's InvalidSignature; returns the key."""
    key = SigningKey.objects.filter(kid=kid).first()
    if key is None:
        raise SigningKeyError(UNKNOWN_KEY.format(kid=kid))
    if key.purpose != purpose:
        raise SigningKeyError(WRONG_KEY_PURPOSE.format(kid=kid, actual=key.purpose, expected=purpose))
    if key.status == Status.COMPROMISED and not allow_compromised:
        raise SigningKeyError(COMPROMISED_KEY.format(kid=kid))
    public_key(key).verify(signature, message)
    return key
