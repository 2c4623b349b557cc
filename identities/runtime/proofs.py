"""Verifying what an agent is: JWT-SVIDs, OIDC ID tokens and client assertions (RFC 7523).

Each verifier takes the token, the trust configuration (dataclasses the service builds from the
registry) and the clock, and returns a VerifiedProof or raises ProofError(code, reason). PyJWT checks
signatures, audience and issuer; the validity window is checked here against the `now` passed in, so a
decision and its test use the same clock. Checks follow RFC 8725 and spiffe/spiffe standards/JWT-SVID.md.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import jwt
from jwt import exceptions as jwt_errors

from agentiam import jsonsafe
from identities.runtime.keys import KeyMismatch, KeySource, KeyUnavailable, key_for
from identities.spiffe import InvalidSpiffeId, parse_spiffe_id

SKEW_SECONDS = 30
MAX_ASSERTION_LIFETIME = 300
# A JWT-SVID's or ID token's lifetime (exp - iat, or exp - now) is capped per trust bundle and issuer;
# SPIRE issues 5 minutes, Kubernetes projected tokens about an hour.
DEFAULT_MAX_LIFETIME = 3600
# Times outside 1970-01-01 … 9999-12-31 are refused before any date arithmetic (no OverflowError).
LATEST_TIME = 253402300799
MAX_TOKEN_BYTES = 16 * 1024
SVID_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"})
OIDC_ALGORITHMS = SVID_ALGORITHMS
ASSERTION_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES384"})
# Headers that would let the token name its own key or where to fetch it (RFC 8725 §3.10).
UNTRUSTED_HEADERS = ("jku", "jwk", "x5u", "x5c")
SVID_TYPES = frozenset({"jwt", "jose"})
OIDC_TYPES = frozenset({"jwt", "jose"})
ASSERTION_TYPES = frozenset({"jwt", "jose", "client-authentication+jwt"})


class ProofKind(StrEnum):
    JWT_SVID = "jwt_svid"
    OIDC = "oidc"
    CLIENT_ASSERTION = "client_assertion"


class ProofError(Exception):
    """A refused proof. `code` is stable (for clients and tests); `reason` says what to fix."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class VerifiedProof:
    kind: ProofKind
    issuer: str  # "spiffe://<trust domain>" for a JWT-SVID, the `iss` otherwise
    subject: str
    claims: Mapping[str, Any]
    key_id: str


@dataclass(frozen=True)
class TrustBundle:
    """A SPIFFE trust domain whose JWT-SVIDs we accept, and the audience they must name."""

    trust_domain: str
    keys: KeySource
    audience: str
    allow_multiple_audiences: bool = False
    max_lifetime: int = DEFAULT_MAX_LIFETIME


@dataclass(frozen=True)
class OidcIssuer:
    issuer: str
    keys: KeySource
    audience: str  # our client id at that issuer
    allow_multiple_audiences: bool = False
    max_lifetime: int = DEFAULT_MAX_LIFETIME


@dataclass(frozen=True)
class RegisteredClient:
    """An identity that authenticates with client assertions signed by its registered public keys."""

    client_id: str
    keys: KeySource


class JtiLedger(Protocol):
    def claim(self, *, client_id: str, jti: str, expires_at: datetime) -> bool:
        """Record this jti as used; False when it was already used (the assertion is a replay).

        Must be atomic (e.g. INSERT … ON CONFLICT DO NOTHING) and may forget a jti after `expires_at`.
        """


@dataclass
class MemoryJtiLedger:
    """A JtiLedger in memory, for tests and single-process tools."""

    used: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def claim(self, *, client_id: str, jti: str, expires_at: datetime) -> bool:
        if (client_id, jti) in self.used:
            return False
        self.used[(client_id, jti)] = expires_at
        return True


@dataclass(frozen=True)
class _Rules:
    kind: ProofKind
    algorithms: frozenset[str]
    types: frozenset[str]


_SVID = _Rules(ProofKind.JWT_SVID, SVID_ALGORITHMS, SVID_TYPES)
_OIDC = _Rules(ProofKind.OIDC, OIDC_ALGORITHMS, OIDC_TYPES)
_ASSERTION = _Rules(ProofKind.CLIENT_ASSERTION, ASSERTION_ALGORITHMS, ASSERTION_TYPES)


def peek_issuer(token: str) -> str | None:
    """The unverified `iss`, used only to find which client's keys should verify the assertion."""
    claims = _unverified(token, _check_header(token, _ASSERTION)[0])
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def verify_jwt_svid(
    token: str, *, bundles: Mapping[str, TrustBundle], now: datetime, skew: int = SKEW_SECONDS
) -> VerifiedProof:
    """A JWT-SVID whose `sub` is a SPIFFE ID of a configured trust domain, signed by that domain's keys."""
    alg, kid = _check_header(token, _SVID)
    sub = _unverified(token, alg).get("sub")
    if not isinstance(sub, str):
        raise ProofError("invalid_spiffe_id", "a JWT-SVID must carry the workload's SPIFFE ID in `sub`")
    try:
        spiffe_id = parse_spiffe_id(sub)
    except InvalidSpiffeId as error:
        raise ProofError("invalid_spiffe_id", f"`sub` is not a valid SPIFFE ID: {error}") from None
    if not spiffe_id.path:
        raise ProofError("invalid_spiffe_id", "`sub` names a trust domain, not a workload (a path is required)")
    bundle = bundles.get(spiffe_id.trust_domain)
    if bundle is None or bundle.trust_domain != spiffe_id.trust_domain:
        raise ProofError(
            "untrusted_domain",
            f"trust domain {spiffe_id.trust_domain!r} is not configured; ask an administrator to add its bundle",
        )
    claims = _verify(
        token,
        _SVID,
        alg,
        kid,
        bundle.keys,
        audience=bundle.audience,
        issuer=None,
        require=("sub", "aud", "exp"),
        multiple_audiences=bundle.allow_multiple_audiences,
        now=now,
        skew=skew,
        max_lifetime=bundle.max_lifetime,
    )
    return VerifiedProof(ProofKind.JWT_SVID, f"spiffe://{spiffe_id.trust_domain}", str(spiffe_id), claims, kid)


def verify_oidc_token(
    token: str, *, issuers: Mapping[str, OidcIssuer], now: datetime, skew: int = SKEW_SECONDS
) -> VerifiedProof:
    """An OIDC ID token from a configured issuer, signed by a key from that issuer's JWKS."""
    alg, kid = _check_header(token, _OIDC)
    iss = _unverified(token, alg).get("iss")
    config = issuers.get(iss) if isinstance(iss, str) else None
    if config is None or config.issuer != iss:
        raise ProofError("wrong_issuer", f"issuer {iss!r} is not a configured OIDC issuer")
    claims = _verify(
        token,
        _OIDC,
        alg,
        kid,
        config.keys,
        audience=config.audience,
        issuer=config.issuer,
        require=("iss", "sub", "aud", "exp", "iat"),
        multiple_audiences=config.allow_multiple_audiences,
        now=now,
        skew=skew,
        max_lifetime=config.max_lifetime,
    )
    return VerifiedProof(ProofKind.OIDC, config.issuer, claims["sub"], claims, kid)


def verify_client_assertion(
    token: str,
    *,
    client: RegisteredClient,
    token_endpoint: str,
    ledger: JtiLedger,
    now: datetime,
    skew: int = SKEW_SECONDS,
    max_lifetime: int = MAX_ASSERTION_LIFETIME,
) -> VerifiedProof:
    """An RFC 7523 client assertion: iss == sub == the client, aud == our token endpoint, a short exp and a
    jti never seen before, signed (EdDSA or ES256/ES384) with a key registered on the identity."""
    alg, kid = _check_header(token, _ASSERTION)
    claims = _verify(
        token,
        _ASSERTION,
        alg,
        kid,
        client.keys,
        audience=token_endpoint,
        issuer=client.client_id,
        require=("iss", "sub", "aud", "exp", "jti"),
        multiple_audiences=False,
        now=now,
        skew=skew,
        max_lifetime=None,  # checked below as RFC 7523 asks: on the time left
    )
    if claims["sub"] != client.client_id:
        raise ProofError("invalid_token", "a client assertion's `sub` must equal its `iss` (the client id)")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise ProofError("invalid_token", "`jti` must be a non-empty text of at most 255 characters")
    remaining = claims["exp"] - now.timestamp()
    if remaining > max_lifetime + skew:
        raise ProofError(
            "invalid_token",
            f"the assertion expires in {math.ceil(remaining)} s; at most {max_lifetime} s is accepted",
        )
    # Claimed last, so a forged or malformed assertion cannot burn a jti the real client will use.
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    if not ledger.claim(client_id=client.client_id, jti=jti, expires_at=expires_at):
        raise ProofError("replayed", f"assertion jti {jti!r} was already used; sign a new assertion per request")
    return VerifiedProof(ProofKind.CLIENT_ASSERTION, client.client_id, client.client_id, claims, kid)


def _check_header(token: object, rules: _Rules) -> tuple[str, str]:
    if not isinstance(token, str) or not token:
        raise ProofError("invalid_token", "the token must be a non-empty compact JWS")
    if len(token) > MAX_TOKEN_BYTES:
        raise ProofError("invalid_token", f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    if token.count(".") != 2:
        raise ProofError("invalid_token", "the token must be a compact JWS (three base64url parts)")
    _within_limits(token)
    try:
        header = jwt.get_unverified_header(token)
    except jwt_errors.PyJWTError as error:
        raise ProofError("invalid_token", f"the token header cannot be read: {error}") from None
    for name in UNTRUSTED_HEADERS:
        if name in header:
            raise ProofError(
                "invalid_token",
                f"the token carries a `{name}` header; keys are taken only from configured trust, so it is refused",
            )
    if "crit" in header:
        raise ProofError("invalid_token", "the token declares critical header extensions, which are not supported")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise ProofError("unsupported_alg", "the token header has no `alg`")
    if alg not in rules.algorithms:
        allowed = ", ".join(sorted(rules.algorithms))
        raise ProofError("unsupported_alg", f"alg {alg!r} is not accepted for a {rules.kind} (allowed: {allowed})")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in rules.types):
        raise ProofError("invalid_token", f"typ {typ!r} is not accepted for a {rules.kind}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ProofError("unknown_kid", "the token header has no `kid`, so no configured key can be chosen")
    return alg, kid


def _within_limits(token: str) -> None:
    """PyJWT parses header and claims with the plain json module: refuse first what jsonsafe's limits refuse
    (too deep, too large), so no token can make it recurse. Malformed parts are left to PyJWT's messages."""
    for part, what in zip(token.split(".")[:2], ("The token's header", "The token's claims"), strict=True):
        try:
            jsonsafe.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)), what=what)
        except jsonsafe.JsonRefused as error:
            if error.code != jsonsafe.INVALID:
                raise ProofError("invalid_token", error.detail) from None
        except (binascii.Error, ValueError):
            return


def _unverified(token: str, alg: str) -> dict[str, Any]:
    """Claims read before the signature is checked, only to choose which configuration verifies it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False}, algorithms=[alg])
    except jwt_errors.PyJWTError as error:
        raise ProofError("invalid_token", f"the token payload cannot be read: {error}") from None
    return claims


def _verify(
    token: str,
    rules: _Rules,
    alg: str,
    kid: str,
    keys: KeySource,
    *,
    audience: str,
    issuer: str | None,
    require: tuple[str, ...],
    multiple_audiences: bool,
    now: datetime,
    skew: int,
    max_lifetime: int | None,
) -> dict[str, Any]:
    try:
        jwk = keys.jwk(kid)
    except KeyUnavailable as error:
        raise ProofError("jwks_unavailable", f"the keys for kid {kid!r} could not be fetched: {error}") from None
    if jwk is None:
        raise ProofError("unknown_kid", f"kid {kid!r} is not among the configured keys for this {rules.kind}")
    try:
        key = key_for(jwk, alg)
    except KeyMismatch as error:
        raise ProofError("unsupported_alg", str(error)) from None
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(require),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt_errors.InvalidSignatureError:
        raise ProofError("invalid_signature", f"the signature does not verify with key {kid!r}") from None
    except jwt_errors.InvalidAudienceError:
        raise ProofError("wrong_audience", f"`aud` must name {audience!r}") from None
    except jwt_errors.InvalidIssuerError:
        raise ProofError("wrong_issuer", f"`iss` must be {issuer!r}") from None
    except jwt_errors.MissingRequiredClaimError as error:
        code = "wrong_audience" if error.claim == "aud" else "invalid_token"
        raise ProofError(code, f"the token has no `{error.claim}` claim, which a {rules.kind} needs") from None
    except jwt_errors.InvalidAlgorithmError as error:
        raise ProofError("unsupported_alg", str(error)) from None
    except jwt_errors.PyJWTError as error:
        raise ProofError("invalid_token", f"the token is malformed: {error}") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and not multiple_audiences:
        raise ProofError(
            "wrong_audience",
            f"the token names {len(aud)} audiences; only a single-audience token for {audience!r} is accepted",
        )
    _check_window(claims, now=now, skew=skew, max_lifetime=max_lifetime, kind=rules.kind)
    return claims


def _check_window(claims: Mapping[str, Any], *, now: datetime, skew: int, max_lifetime: int | None, kind: str) -> None:
    at = now.timestamp()
    times = {name: _numeric(claims, name) for name in ("exp", "nbf", "iat") if name in claims}
    exp = times.get("exp")
    if exp is not None and exp <= at - skew:
        raise ProofError("expired", f"the token expired at {_iso(exp)} (now {_iso(at)}, skew {skew} s)")
    for name in ("nbf", "iat"):
        value = times.get(name)
        if value is not None and value > at + skew:
            raise ProofError("not_yet_valid", f"`{name}` is {_iso(value)}, later than now ({_iso(at)}, skew {skew} s)")
    if exp is None or max_lifetime is None:
        return
    lifetime = max(exp - times.get("iat", at), exp - at)
    if lifetime > max_lifetime + skew:
        raise ProofError(
            "lifetime_too_long",
            f"the {kind} is valid for {math.ceil(lifetime)} s; at most {max_lifetime} s is accepted "
            "(max_proof_lifetime of its trust configuration)",
        )


def _numeric(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProofError("invalid_token", f"`{name}` must be a number of seconds since the epoch")
    if not 0 <= value <= LATEST_TIME:
        raise ProofError("invalid_token", f"`{name}` must be a time between 1970 and 9999 (seconds since the epoch)")
    return float(value)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")
