"""Writes on the runtime's trust configuration. Administrators only (configuration bound to an identity:
never one they own); every change is audited in its transaction; nothing is deleted, only disabled."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from agentiam.permissions import Role, roles_of
from audit.trail import audit_record
from identities import services as registry
from identities.models import Identity, IdentityKind
from identities.runtime.credentials import new_gateway_credential
from identities.runtime.keys import JWT_SVID_USE, SIGNATURE_USE, InvalidKeySet, KeyMismatch, KeySet, key_for
from identities.runtime.models import (
    AssertionKey,
    DelegationRule,
    Gateway,
    OidcIssuer,
    PerCallMode,
    ProvenanceRule,
    TrustBundle,
)
from identities.runtime.models.config import ERR_PROOF_LIFETIME, MAX_PROOF_LIFETIME, MIN_PROOF_LIFETIME
from identities.runtime.proofs import DEFAULT_MAX_LIFETIME
from identities.runtime.services.percall import require_mode_disabler
from identities.services.identity import Right, require
from identities.spiffe import InvalidSpiffeId, parse_spiffe_id

__all__ = [
    "AUDIT_NAMES",
    "ERR_ADMIN_ONLY",
    "ERR_ALREADY_DISABLED",
    "ERR_AUDIENCES",
    "ERR_AUDIENCE_TAKEN",
    "ERR_CLAIM",
    "ERR_DUPLICATE",
    "ERR_JWK",
    "ERR_KEYS",
    "ERR_KID",
    "ERR_NO_KEYS",
    "ERR_REASON",
    "ERR_RULE_EMPTY",
    "ERR_SAME_IDENTITY",
    "ERR_SOURCE",
    "ERR_TRUST_DOMAIN",
    "ERR_URL",
    "assertion_key_create",
    "config_disable",
    "delegation_rule_create",
    "gateway_create",
    "gateway_rotate_credential",
    "oidc_issuer_create",
    "provenance_rule_create",
    "trust_bundle_create",
]

ERR_ADMIN_ONLY = "Only an administrator may change the runtime's trust configuration."
ERR_ALREADY_DISABLED = "This is already disabled."
ERR_REASON = "Say why (the reason goes into the audit trail)."
ERR_AUDIENCES = "Give 1 to 20 audiences, each up to 300 characters without spaces."
ERR_AUDIENCE_TAKEN = "Audience {audience!r} is already served by gateway {gateway!r}."
ERR_TRUST_DOMAIN = "A trust domain is a SPIFFE trust domain name, e.g. prod.example.com: {error}."
ERR_SOURCE = "Give either the key set (JSON) or its https URL, not both."
ERR_URL = "The URL must use https."
ERR_KEYS = "The key set is not usable: {error}."
ERR_NO_KEYS = "The key set holds no usable key (JWT-SVID keys need use: jwt-svid and a kid)."
ERR_JWK = "The public key is not usable: {error}."
ERR_KID = "A key id (kid) is required, up to 200 characters."
ERR_CLAIM = "A claim name is 1 to 100 letters, digits, '_', '.', ':' or '-'."
ERR_RULE_EMPTY = "Give allowed values, a per-identity field, or both: a rule that allows anything checks nothing."
ERR_SAME_IDENTITY = "An identity cannot be its own delegate."
ERR_DUPLICATE = "An enabled rule like this already exists."
_AUDIENCE = re.compile(r"^\S{1,300}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")


def _require_admin(actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def _audit(actor, action: str, row, request, changes: dict[str, Any]) -> None:
    audit_record(actor=actor, action=action, target=row, request=request, changes=changes)


def _clean_audiences(audiences: list[str]) -> list[str]:
    cleaned = list(dict.fromkeys(a.strip() for a in audiences if a and a.strip()))
    if not cleaned or len(cleaned) > 20 or not all(_AUDIENCE.match(a) for a in cleaned):
        raise invalid("audiences", ERR_AUDIENCES)
    return cleaned


def _key_set(document: Any, *, use: str, field: str) -> None:
    try:
        keys = KeySet.from_document(document, use=use)
    except InvalidKeySet as error:
        raise invalid(field, ERR_KEYS.format(error=error)) from None
    if not len(keys):
        raise invalid(field, ERR_NO_KEYS)


def _source(document: Any, url: str, *, use: str, field: str) -> None:
    if (document is None) == (not url):
        raise invalid(field, ERR_SOURCE)
    if url and not url.startswith("https://"):
        raise invalid(f"{field}_url", ERR_URL)
    if document is not None:
        _key_set(document, use=use, field=field)


# --- gateways -------------------------------------------------------------------------------------------


@transaction.atomic
def gateway_create(
    *, actor, name: str, audiences: list[str], environment: str, accountable_owner=None, description: str = "",
    request=None,
) -> tuple[Gateway, str]:  # fmt: skip
    """Register a gateway as a new service-account identity; returns it and its credential (shown once)."""
    _require_admin(actor)
    audiences = _clean_audiences(audiences)
    with connection.cursor() as cursor:  # audiences are unique across enabled gateways: one check at a time
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('agentiam-runtime-gateway-audiences'))")
    _audiences_free(audiences)
    if Gateway.objects.filter(name=name).exists() or not name.strip():
        raise invalid("name", "Give the gateway a name no other gateway has.")
    identity = registry.identity_create(
        actor=actor,
        accountable_owner=accountable_owner,
        request=request,
        kind=IdentityKind.SERVICE_ACCOUNT,
        name=name,
        description=description or f"Enforcement point (gateway) {name}",
        environment=environment,
    )
    secret = new_gateway_credential()
    gateway = Gateway.objects.create(
        name=name,
        identity=identity,
        audiences=audiences,
        prefix=secret.prefix,
        digest=secret.digest,
        credential_issued_at=timezone.now(),
        description=description,
        created_by=actor,
    )
    _audit(actor, "gateway.create", gateway, request, {"audiences": audiences, "identity": str(identity.uuid)})
    return gateway, secret.token


def _audiences_free(audiences: list[str], *, except_gateway: Gateway | None = None) -> None:
    taken = Gateway.objects.enabled().filter(audiences__overlap=audiences)
    if except_gateway is not None:
        taken = taken.exclude(pk=except_gateway.pk)
    for gateway in taken:
        clash = next(a for a in audiences if a in gateway.audiences)
        raise invalid("audiences", ERR_AUDIENCE_TAKEN.format(audience=clash, gateway=gateway.name))


@transaction.atomic
def gateway_rotate_credential(*, gateway: Gateway, actor, request=None) -> tuple[Gateway, str]:
    """A new credential; the old one stops working at once."""
    _require_admin(actor)
    gateway = Gateway.objects.select_for_update().get(pk=gateway.pk)
    if gateway.disabled_at is not None:
        raise Conflict(ERR_ALREADY_DISABLED)
    secret = new_gateway_credential()
    gateway.prefix, gateway.digest, gateway.credential_issued_at = secret.prefix, secret.digest, timezone.now()
    gateway.save(update_fields=["prefix", "digest", "credential_issued_at"])
    _audit(actor, "gateway.rotate_credential", gateway, request, {"prefix": secret.prefix})
    return gateway, secret.token


# --- trust bundles, issuers, keys, rules -----------------------------------------------------------------


def _check_lifetime(seconds: object) -> None:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_PROOF_LIFETIME <= seconds <= MAX_PROOF_LIFETIME
    ):
        raise invalid("max_proof_lifetime", ERR_PROOF_LIFETIME)


@transaction.atomic
def trust_bundle_create(
    *, actor, trust_domain: str, audience: str = "", bundle: Any = None, bundle_url: str = "", description: str = "",
    max_proof_lifetime: int = DEFAULT_MAX_LIFETIME, request=None,
) -> TrustBundle:  # fmt: skip
    _require_admin(actor)
    _check_lifetime(max_proof_lifetime)
    trust_domain = (trust_domain or "").strip()
    try:
        parsed = parse_spiffe_id(f"spiffe://{trust_domain}")
        if parsed.path:
            raise InvalidSpiffeId("no path")
    except InvalidSpiffeId as error:
        raise invalid("trust_domain", ERR_TRUST_DOMAIN.format(error=error)) from None
    if TrustBundle.objects.filter(trust_domain=trust_domain).exists():
        raise invalid("trust_domain", "This trust domain is already configured (disabled ones stay on record).")
    _source(bundle, bundle_url, use=JWT_SVID_USE, field="bundle")
    row = TrustBundle.objects.create(
        trust_domain=trust_domain, audience=audience.strip() or settings.RUNTIME_TOKEN_ENDPOINT, bundle=bundle,
        bundle_url=bundle_url,
        description=description, created_by=actor, max_proof_lifetime=max_proof_lifetime,
    )  # fmt: skip
    _audit(
        actor, "trust_bundle.create", row, request,
        {"audience": row.audience, "url": bundle_url or None, "max_proof_lifetime": max_proof_lifetime},
    )  # fmt: skip
    return row


@transaction.atomic
def oidc_issuer_create(
    *, actor, issuer: str, audience: str, jwks: Any = None, jwks_url: str = "", description: str = "",
    max_proof_lifetime: int = DEFAULT_MAX_LIFETIME, request=None,
) -> OidcIssuer:  # fmt: skip
    _require_admin(actor)
    _check_lifetime(max_proof_lifetime)
    issuer = (issuer or "").strip()
    if not issuer.startswith(("https://", "http://")) or len(issuer) > 500:
        raise invalid("issuer", "The issuer is the exact `iss` of its tokens, an http(s) URL.")
    if OidcIssuer.objects.filter(issuer=issuer).exists():
        raise invalid("issuer", "This issuer is already configured (disabled ones stay on record).")
    if not audience.strip():
        raise invalid("audience", "The audience is AgentIAM's client id at this issuer.")
    _source(jwks, jwks_url, use=SIGNATURE_USE, field="jwks")
    row = OidcIssuer.objects.create(
        issuer=issuer, audience=audience.strip(), jwks=jwks, jwks_url=jwks_url, description=description,
        created_by=actor, max_proof_lifetime=max_proof_lifetime,
    )  # fmt: skip
    _audit(
        actor, "oidc_issuer.create", row, request,
        {"audience": row.audience, "url": jwks_url or None, "max_proof_lifetime": max_proof_lifetime},
    )  # fmt: skip
    return row


@transaction.atomic
def assertion_key_create(
    *, actor, identity: Identity, jwk: Any, algorithm: str, kid: str = "", description: str = "", request=None
) -> AssertionKey:
    require(Right.ADMINISTER, identity, actor)
    if not isinstance(jwk, dict):
        raise invalid("jwk", ERR_JWK.format(error="give one JWK (a JSON object)"))
    kid = (kid or jwk.get("kid") or "").strip()
    if not kid or len(kid) > 200:
        raise invalid("kid", ERR_KID)
    public = {**jwk, "kid": kid}
    try:
        KeySet.from_document({"keys": [public]}, use=SIGNATURE_USE)
        key_for(public, algorithm)
    except (InvalidKeySet, KeyMismatch) as error:
        raise invalid("jwk", ERR_JWK.format(error=error)) from None
    if AssertionKey.objects.enabled().filter(identity=identity, kid=kid).exists():
        raise invalid("kid", "This identity already has an enabled key with this kid.")
    row = AssertionKey.objects.create(
        identity=identity, kid=kid, algorithm=algorithm, jwk=public, description=description, created_by=actor
    )
    _audit(actor, "assertion_key.create", row, request, {"identity": str(identity.uuid), "kid": kid})
    return row


@transaction.atomic
def provenance_rule_create(
    *, actor, issuer: str, claim: str, allowed_values: list[str] | tuple[str, ...] = (), identity_field: str = "",
    description: str = "",
    request=None,
) -> ProvenanceRule:  # fmt: skip
    _require_admin(actor)
    if not issuer.strip():
        raise invalid("issuer", 'Name the issuer: "spiffe://<trust domain>" or an OIDC issuer URL.')
    if not _CLAIM.match(claim or ""):
        raise invalid("claim", ERR_CLAIM)
    values = list(dict.fromkeys(v.strip() for v in allowed_values if v.strip()))
    if not values and not identity_field:
        raise invalid("allowed_values", ERR_RULE_EMPTY)
    row = ProvenanceRule.objects.create(
        issuer=issuer.strip(), claim=claim, allowed_values=values, identity_field=identity_field,
        description=description, created_by=actor,
    )  # fmt: skip
    _audit(actor, "provenance_rule.create", row, request, {"claim": claim, "values": values, "field": identity_field})
    return row


@transaction.atomic
def delegation_rule_create(
    *, actor, actor_identity: Identity, subject: Identity, description: str = "", request=None
) -> DelegationRule:
    require(Right.ADMINISTER, actor_identity, actor)
    require(Right.ADMINISTER, subject, actor)
    if actor_identity.pk == subject.pk:
        raise invalid("subject", ERR_SAME_IDENTITY)
    if DelegationRule.objects.enabled().filter(actor=actor_identity, subject=subject).exists():
        raise invalid("subject", ERR_DUPLICATE)
    row = DelegationRule.objects.create(
        actor=actor_identity, subject=subject, description=description, created_by=actor
    )
    changes = {"actor": str(actor_identity.uuid), "subject": str(subject.uuid)}
    _audit(actor, "delegation_rule.create", row, request, changes)
    return row


AUDIT_NAMES = {
    Gateway: "gateway",
    TrustBundle: "trust_bundle",
    OidcIssuer: "oidc_issuer",
    AssertionKey: "assertion_key",
    ProvenanceRule: "provenance_rule",
    DelegationRule: "delegation_rule",
    PerCallMode: "per_call_mode",
}


@transaction.atomic
def config_disable(*, row, actor, reason: str, request=None):
    """Disable any trust configuration row (a gateway's credential stops working at once)."""
    model = type(row)
    row = model.objects.select_for_update().get(pk=row.pk)
    if isinstance(row, AssertionKey):
        require(Right.ADMINISTER, row.identity, actor)
    elif isinstance(row, DelegationRule):
        require(Right.ADMINISTER, row.actor, actor)
    elif isinstance(row, PerCallMode):
        require_mode_disabler(actor, row)
    else:
        _require_admin(actor)
    if not reason.strip():
        raise invalid("reason", ERR_REASON)
    if row.disabled_at is not None:
        raise Conflict(ERR_ALREADY_DISABLED)
    row.disabled_at, row.disabled_by, row.disable_reason = timezone.now(), actor, reason
    row.save(update_fields=["disabled_at", "disabled_by", "disable_reason"])
    _audit(actor, f"{AUDIT_NAMES[model]}.disable", row, request, {"reason": reason})
    return row
