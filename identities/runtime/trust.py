"""From the trust configuration in the database to a verified workload: which verifier a proof goes to, the
keys it is checked with, the identity its subject names, and the provenance rules it must satisfy.

Inline key sets are read per exchange (they are small); remote ones are RemoteJwks objects kept per URL
for the life of the process, so their cache and their once-a-minute refresh limit hold across requests.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from agentiam import jsonsafe
from identities.models import Identifier, IdentifierKind, Identity
from identities.runtime import proofs
from identities.runtime.jwks import FetchRules, RemoteJwks
from identities.runtime.keys import JWT_SVID_USE, SIGNATURE_USE, InvalidKeySet, KeySet, KeySource
from identities.runtime.lookups import fetch_one
from identities.runtime.models import AssertionKey
from identities.runtime.provenance import ProvenanceRule, check_provenance
from identities.spiffe import InvalidSpiffeId, normalise_spiffe_id

TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a URI
TOKEN_TYPE_ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a URI, not a secret
TOKEN_TYPE_ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PROOF_TYPES = (TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN, ASSERTION_TYPE)

_remote: dict[tuple[str, str], RemoteJwks] = {}
_remote_lock = threading.Lock()


def fetch_rules() -> FetchRules:
    return FetchRules(
        allowed_networks=tuple(settings.RUNTIME_JWKS_ALLOWED_NETWORKS),
        timeout=float(settings.RUNTIME_JWKS_TIMEOUT),
        ca_file=settings.RUNTIME_JWKS_CA_FILE,
    )


def key_source(document: Any, url: str, *, use: str) -> KeySource:
    """Keys from an inline JWK set, or the process-wide RemoteJwks for a URL."""
    if not url:
        return KeySet.from_document(document, use=use)
    with _remote_lock:
        remote = _remote.get((url, use))
        if remote is None:
            remote = _remote[(url, use)] = RemoteJwks(url, fetch_rules(), use=use)
        return remote


@dataclass(frozen=True)
class Rule:
    issuer: str
    claim: str
    allowed_values: tuple[str, ...]
    identity_field: str


@dataclass(frozen=True)
class Trust:
    bundles: dict[str, proofs.TrustBundle]
    issuers: dict[str, proofs.OidcIssuer]
    rules: tuple[Rule, ...]
    audience_served: bool = False
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → {"id", "key", "actions"}
    token_kid: str | None = None  # the active token signing key, if there is one


# The token service's reads before the proof is verified, in one round trip: is the audience served, the
# enabled trust configuration, the tools asked for, and which key signs.
_CONTEXT = """
SELECT json_build_object(
    'audience', EXISTS (
        SELECT 1 FROM runtime_gateway WHERE disabled_at IS NULL AND audiences @> ARRAY[%(audience)s::varchar]
    ),
    'bundles', (SELECT coalesce(json_agg(json_build_object(
        'name', trust_domain, 'audience', audience, 'keys', bundle, 'url', bundle_url,
        'max_lifetime', max_proof_lifetime)), '[]')
        FROM runtime_trustbundle WHERE disabled_at IS NULL),
    'issuers', (SELECT coalesce(json_agg(json_build_object(
        'name', issuer, 'audience', audience, 'keys', jwks, 'url', jwks_url,
        'max_lifetime', max_proof_lifetime)), '[]')
        FROM runtime_oidcissuer WHERE disabled_at IS NULL),
    'rules', (SELECT coalesce(json_agg(json_build_object(
        'issuer', issuer, 'claim', claim, 'values', allowed_values, 'field', identity_field)), '[]')
        FROM runtime_provenancerule WHERE disabled_at IS NULL),
    'tools', (SELECT coalesce(json_agg(json_build_object('id', id, 'key', key, 'actions', actions)), '[]')
        FROM identities_tool WHERE key = ANY(%(tools)s::text[])),
    'token_kid', (SELECT kid FROM audit_signingkey WHERE purpose = 'token' AND status = 'active')
)
"""


def load_trust(*, audience: str = "", tools: list[str] | tuple[str, ...] = ()) -> Trust:
    data = fetch_one(_CONTEXT, {"audience": audience, "tools": list(tools)})[0]
    bundles, issuers = {}, {}
    for row in data["bundles"]:
        try:
            keys = key_source(row["keys"], row["url"], use=JWT_SVID_USE)
        except InvalidKeySet:
            continue  # refused when saved; a bundle that no longer parses verifies nothing
        bundles[row["name"]] = proofs.TrustBundle(row["name"], keys, row["audience"], max_lifetime=row["max_lifetime"])
    for row in data["issuers"]:
        try:
            keys = key_source(row["keys"], row["url"], use=SIGNATURE_USE)
        except InvalidKeySet:
            continue
        issuers[row["name"]] = proofs.OidcIssuer(row["name"], keys, row["audience"], max_lifetime=row["max_lifetime"])
    rules = tuple(Rule(r["issuer"], r["claim"], tuple(r["values"] or ()), r["field"] or "") for r in data["rules"])
    return Trust(bundles, issuers, rules, data["audience"], {t["key"]: t for t in data["tools"]}, data["token_kid"])


class DbJtiLedger:
    """proofs.JtiLedger on the JtiLedgerEntry table: one atomic INSERT … ON CONFLICT DO NOTHING."""

    def claim(self, *, client_id: str, jti: str, expires_at: datetime) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO runtime_jtiledgerentry (client_id, jti, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (client_id, jti) DO NOTHING RETURNING id",
                [client_id, jti, expires_at],
            )
            return cursor.fetchone() is not None


def _peek(token: str) -> dict[str, Any]:
    """Unverified claims, only to pick the verifier; every verifier then checks the token from scratch."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise proofs.ProofError("invalid_token", "the token must be a compact JWS (three base64url parts)")
    try:
        claims = jsonsafe.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)), what="The claims")
    except jsonsafe.JsonRefused as error:
        raise proofs.ProofError("invalid_token", error.detail) from None
    except (binascii.Error, ValueError):
        raise proofs.ProofError("invalid_token", "the token's claims cannot be read") from None
    if not isinstance(claims, dict):
        raise proofs.ProofError("invalid_token", "the token's claims must be a JSON object")
    return claims


def _assertion_client(client_id: object) -> tuple[Identity, proofs.RegisteredClient] | None:
    try:
        identity = Identity.objects.get(uuid=uuid.UUID(str(client_id)))
    except (ValueError, Identity.DoesNotExist):
        return None
    rows = AssertionKey.objects.enabled().filter(identity=identity)
    keys = KeySet({row.kid: {**row.jwk, "kid": row.kid, "alg": row.algorithm} for row in rows})
    return identity, proofs.RegisteredClient(str(identity.uuid), keys)


def verify_proof(token: str, token_type: str, trust: Trust, *, now: datetime) -> tuple[proofs.VerifiedProof, Identity]:
    """Verify a workload proof and find its identity; ProofError (code, reason) says why not."""
    claims = _peek(token)
    sub, iss = claims.get("sub"), claims.get("iss")
    if token_type == TOKEN_TYPE_ID_TOKEN or (token_type == TOKEN_TYPE_JWT and iss in trust.issuers):
        proof = proofs.verify_oidc_token(token, issuers=trust.issuers, now=now)
        value, kind = f"{proof.issuer}|{proof.subject}", IdentifierKind.OIDC_SUBJECT
    elif token_type == TOKEN_TYPE_JWT and isinstance(sub, str) and sub.lower().startswith("spiffe://"):
        proof = proofs.verify_jwt_svid(token, bundles=trust.bundles, now=now)
        value, kind = proof.subject, IdentifierKind.SPIFFE
    else:
        found = _assertion_client(iss)
        if found is None:
            expected = (
                "the id of an identity" if token_type == ASSERTION_TYPE else "a configured OIDC issuer or an identity"
            )
            raise proofs.ProofError("untrusted_issuer", f"`iss` {iss!r} is not {expected} with registered keys")
        identity, client = found
        proof = proofs.verify_client_assertion(
            token, client=client, token_endpoint=settings.RUNTIME_TOKEN_ENDPOINT, ledger=DbJtiLedger(), now=now
        )
        return proof, _checked(proof, identity, trust)
    if kind == IdentifierKind.SPIFFE:
        try:
            value = normalise_spiffe_id(value)
        except InvalidSpiffeId as error:
            raise proofs.ProofError("invalid_spiffe_id", str(error)) from None
    identifier = Identifier.objects.select_related("identity").filter(kind=kind, value=value).first()
    if identifier is None:
        raise proofs.ProofError(
            "unknown_subject", f"{value!r} is not an identifier of any registered identity; an owner must add it"
        )
    return proof, _checked(proof, identifier.identity, trust)


def _checked(proof: proofs.VerifiedProof, identity: Identity, trust: Trust) -> Identity:
    if identity.status != "active":
        raise proofs.ProofError(
            "identity_not_active", f"identity {identity.name!r} is {identity.status}; it cannot obtain tokens"
        )
    fields = {rule.claim: rule.identity_field for rule in trust.rules if rule.identity_field}

    def own_values(claim: str) -> list[str]:
        value = getattr(identity, fields.get(claim, ""), None) if fields.get(claim) else None
        if isinstance(value, list):
            return value
        return [value] if value else []

    rules = [
        ProvenanceRule(r.issuer, r.claim, frozenset(r.allowed_values), bool(r.identity_field)) for r in trust.rules
    ]
    check_provenance(proof, rules, own_values)
    return identity
