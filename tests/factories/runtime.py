"""The runtime: trust configuration (gateways, trust bundles, OIDC issuers, assertion keys, provenance and
delegation rules), policy versions, issued tokens and their revocations, and the decision log.

Bare rows, no audit entry: use identities.runtime.services for behaviour (tests.runtime_support builds a
whole working estate through them)."""

from __future__ import annotations

from datetime import timedelta

import factory
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.db.models import Max
from django.utils import timezone
from jwt.algorithms import OKPAlgorithm

from identities.runtime.credentials import new_gateway_credential
from identities.runtime.decision_ids import uuid7
from identities.runtime.models import PolicyVersion
from tests.factories.registry import IdentityFactory, ToolFactory


def _now():
    return timezone.now()


class GatewayFactory(factory.django.DjangoModelFactory):
    """A gateway on its own service-account identity; `gateway.credential` is the secret it presents."""

    class Meta:
        model = "runtime.Gateway"

    name = factory.Sequence(lambda n: f"gateway-{n}")
    identity = factory.SubFactory(IdentityFactory, kind="service_account", name=factory.SelfAttribute("..name"))
    audiences = factory.Sequence(lambda n: [f"https://tools-{n}.example.com/mcp"])
    credential_issued_at = factory.LazyFunction(_now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        secret = new_gateway_credential()
        gateway = super()._create(model_class, *args, prefix=secret.prefix, digest=secret.digest, **kwargs)
        gateway.credential = secret.token
        return gateway


class TrustBundleFactory(factory.django.DjangoModelFactory):
    """A SPIFFE trust domain with an inline (empty) bundle."""

    class Meta:
        model = "runtime.TrustBundle"

    trust_domain = factory.Sequence(lambda n: f"domain-{n}.example.com")
    audience = "https://agentiam.example.com/api/v1/runtime/token"
    bundle = factory.LazyFunction(lambda: {"keys": []})


class OidcIssuerFactory(factory.django.DjangoModelFactory):
    """An OIDC issuer with an inline (empty) key set."""

    class Meta:
        model = "runtime.OidcIssuer"

    issuer = factory.Sequence(lambda n: f"https://login-{n}.example.com")
    audience = "agentiam"
    jwks = factory.LazyFunction(lambda: {"keys": []})


def _ed25519_jwk(kid: str) -> dict:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return {**OKPAlgorithm.to_jwk(public, as_dict=True), "kid": kid}


class AssertionKeyFactory(factory.django.DjangoModelFactory):
    """A fresh Ed25519 public key registered on an identity for its client assertions."""

    class Meta:
        model = "runtime.AssertionKey"

    identity = factory.SubFactory(IdentityFactory)
    kid = factory.Sequence(lambda n: f"assertion-key-{n}")
    algorithm = "EdDSA"
    jwk = factory.LazyAttribute(lambda key: _ed25519_jwk(key.kid))


class ProvenanceRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "runtime.ProvenanceRule"

    issuer = "spiffe://prod.example.com"
    claim = factory.Sequence(lambda n: f"claim_{n}")
    allowed_values = factory.LazyFunction(lambda: ["main"])


class DelegationRuleFactory(factory.django.DjangoModelFactory):
    """`actor` may act for `subject`: two new identities unless given."""

    class Meta:
        model = "runtime.DelegationRule"

    actor = factory.SubFactory(IdentityFactory)
    subject = factory.SubFactory(IdentityFactory)


class PerCallModeFactory(factory.django.DjangoModelFactory):
    """Per-call re-authorisation on for a new identity (or pass risk_tier=… and identity=None)."""

    class Meta:
        model = "runtime.PerCallMode"

    identity = factory.SubFactory(IdentityFactory)


class CallAuthorisationFactory(factory.django.DjangoModelFactory):
    """A pending per-call access request: a write on a new tool through a new gateway."""

    class Meta:
        model = "runtime.CallAuthorisation"

    identity = factory.SubFactory(IdentityFactory)
    gateway = factory.SubFactory(GatewayFactory)
    tool = factory.SubFactory(ToolFactory, actions=["read", "write"])
    tool_key = factory.SelfAttribute("tool.key")
    action = "write"
    resource = factory.LazyFunction(lambda: {"repo": "acme/api"})
    resource_digest = factory.Sequence(lambda n: f"{n:064x}")
    evaluation_id = factory.LazyFunction(lambda: uuid7(timezone.now()))
    requested_at = factory.LazyFunction(_now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=10))


def _next_policy_number() -> int:
    return (PolicyVersion.objects.aggregate(top=Max("number"))["top"] or 0) + 1


def _active_policy() -> PolicyVersion | None:
    return PolicyVersion.objects.filter(status="active").first()


class PolicyVersionFactory(factory.django.DjangoModelFactory):
    """A draft copying the active version's text, schema and cases (so it validates), numbered next."""

    class Meta:
        model = "runtime.PolicyVersion"

    number = factory.LazyFunction(_next_policy_number)
    status = "draft"
    summary = factory.Sequence(lambda n: f"Draft {n}")
    parent = factory.LazyFunction(_active_policy)
    policy_text = factory.LazyAttribute(lambda version: version.parent.policy_text if version.parent else "")
    schema_text = factory.LazyAttribute(lambda version: version.parent.schema_text if version.parent else "")
    test_cases = factory.LazyAttribute(lambda version: list(version.parent.test_cases) if version.parent else [])


class IssuedTokenFactory(factory.django.DjangoModelFactory):
    """The record of a five-minute access token for a new identity (no token was signed)."""

    class Meta:
        model = "runtime.IssuedToken"

    jti = factory.Sequence(lambda n: f"jti-{n:016x}")
    kid = "factory-kid"
    identity = factory.SubFactory(IdentityFactory)
    subject = factory.LazyAttribute(lambda token: f"spiffe://prod.example.com/agent/{token.identity.name}")
    proof_kind = "jwt_svid"
    scopes = factory.LazyFunction(lambda: ["jira.read_issue:read"])
    audience = "https://tools.example.com/mcp"
    issued_at = factory.LazyFunction(_now)
    expires_at = factory.LazyAttribute(lambda token: token.issued_at + timedelta(minutes=5))


class TokenRevocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "runtime.TokenRevocation"

    jti = factory.Sequence(lambda n: f"revoked-{n:016x}")
    reason = "task completed"
    revoked_at = factory.LazyFunction(_now)


class PolicyDecisionFactory(factory.django.DjangoModelFactory):
    """One allow in the decision log (today's partition), by a new gateway for a new identity."""

    class Meta:
        model = "runtime.PolicyDecision"

    decided_at = factory.LazyFunction(_now)
    uuid = factory.LazyAttribute(lambda decision: uuid7(decision.decided_at))
    gateway = factory.SubFactory(GatewayFactory)
    identity = factory.SubFactory(IdentityFactory)
    tool_key = "jira.read_issue"
    action = "read"
    policy_version = factory.LazyFunction(_active_policy)
    decision = "allow"
    reasons = factory.LazyFunction(lambda: ["allow-standing-entitlement"])
    latency_us = 250
