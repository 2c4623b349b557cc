"""Shared set-up of the runtime tests: real keys, a SPIFFE trust domain, an agent with an owner, acceptable use
and a standing entitlement, two gateways — all made through the services — and helpers for the endpoints."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.conf import settings
from django.test import Client
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from audit.services import signing_key_ensure
from identities import services as registry
from identities.models import Identity, Tool
from identities.runtime import services as runtime
from tests.factories import ToolFactory

TRUST_DOMAIN = "prod.example.com"
SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/agent/triage"
ACTOR_SPIFFE_ID = f"spiffe://{TRUST_DOMAIN}/agent/orchestrator"
AUDIENCE = "https://tools.example.com/mcp"
OTHER_AUDIENCE = "https://other.example.com/mcp"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_URL = "/api/v1/runtime/token"
DECIDE_URL = "/api/v1/runtime/decide"
INTROSPECT_URL = "/api/v1/runtime/introspect"
DIGEST = "sha256:" + "ab" * 32

SVID_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_DOMAIN_KEY = ec.generate_private_key(ec.SECP256R1())
CLIENT_KEY = ed25519.Ed25519PrivateKey.generate()
OIDC_KEY = ec.generate_private_key(ec.SECP256R1())
OIDC_ISSUER = "https://login.example.com"


def public_jwk(private_key, kid: str, **extra) -> dict:
    public = private_key.public_key()
    if isinstance(private_key, rsa.RSAPrivateKey):
        data = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        data = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        data = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, **extra}


def svid(sub: str = SPIFFE_ID, *, key=SVID_KEY, alg="RS256", kid="svid-1", headers=None, **claims) -> str:
    now = int(time.time())
    payload = {"sub": sub, "aud": settings.RUNTIME_TOKEN_ENDPOINT, "exp": now + 300, "iat": now, **claims}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})})


@dataclass
class Estate:
    cast: object
    agent: Identity
    orchestrator: Identity
    read_repo: Tool
    create_pr: Tool
    read_secret: Tool
    gateway: object
    credential: str
    other_gateway: object
    other_credential: str
    extra: dict = field(default_factory=dict)


def build_estate(cast) -> Estate:
    owner, admin = cast.identity_owner, cast.administrator
    signing_key_ensure()  # what `migrate` does outside the test profile (the signing_keys fixture does the same)
    ensure_baseline_policy()  # a transactional test elsewhere may have flushed the migration's version
    read_repo = ToolFactory(key="github.read_repo", actions=["read"])
    create_pr = ToolFactory(key="github.create_pull_request", actions=["read", "write"])
    read_secret = ToolFactory(key="vault.read_secret", actions=["read"], production=True, production_secrets=True)
    identities = {}
    for name, spiffe_id in (("triage-bot", SPIFFE_ID), ("orchestrator", ACTOR_SPIFFE_ID)):
        identity = registry.identity_create(
            actor=owner, kind="agent", name=name, environment="prod", exposure="internal",
            allowed_image_digests=[DIGEST],
        )  # fmt: skip
        registry.identifier_add(identity=identity, actor=owner, kind="spiffe", value=spiffe_id)
        registry.aup_add_version(
            identity=identity, actor=owner, purpose="Triage issues", allowed_tools=["github.*", "vault.*"],
            data_classes=[],
        )  # fmt: skip
        registry.entitlement_grant(
            identity=identity, tool=read_repo, action="read", actor=owner, scope={"repo": "acme/*"}
        )
        identities[name] = Identity.objects.get(pk=identity.pk)
    bundle = {"keys": [public_jwk(SVID_KEY, "svid-1", use="jwt-svid")]}
    runtime.trust_bundle_create(
        actor=admin, trust_domain=TRUST_DOMAIN, audience=settings.RUNTIME_TOKEN_ENDPOINT, bundle=bundle
    )
    gateway, credential = runtime.gateway_create(actor=admin, name="tools-gw", audiences=[AUDIENCE], environment="prod")
    other, other_credential = runtime.gateway_create(
        actor=admin, name="other-gw", audiences=[OTHER_AUDIENCE], environment="prod"
    )
    return Estate(
        cast, identities["triage-bot"], identities["orchestrator"], read_repo, create_pr, read_secret,
        gateway, credential, other, other_credential,
    )  # fmt: skip


def ensure_baseline_policy() -> None:
    from identities.runtime.models import PolicyVersion
    from identities.runtime.policy import BASELINE_POLICY, SCHEMA

    if not PolicyVersion.objects.filter(status="active").exists():
        PolicyVersion.objects.create(number=1, status="active", policy_text=BASELINE_POLICY, schema_text=SCHEMA)


def exchange(client: Client | None = None, *, form: bool = False, **params):
    """POST the token endpoint: a JWT-SVID exchange for github.read_repo:read on task "triage-42" by default."""
    body = {
        "grant_type": GRANT_TYPE,
        "subject_token_type": JWT_TYPE,
        "audience": AUDIENCE,
        "scope": "github.read_repo:read",
        "task": "triage-42",
        **params,
    }
    if "subject_token" not in body:
        body["subject_token"] = svid()
    body = {key: value for key, value in body.items() if value is not None}
    client = client or Client()
    if form:
        return client.post(TOKEN_URL, urlencode(body, doseq=True), content_type="application/x-www-form-urlencoded")
    return client.post(TOKEN_URL, json.dumps(body), content_type="application/json")


def access_token(**params) -> dict:
    response = exchange(**params)
    assert response.status_code == 200, response.json()
    return response.json()


def decide(credential: str | None, token: str, *, tool="github.read_repo", action="read", resource=None, **extra):
    body = {"token": token, "tool": tool, "action": action, "resource": resource or {"repo": "acme/api"}, **extra}
    headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    return Client().post(DECIDE_URL, json.dumps(body), content_type="application/json", **headers)


def decide_batch(credential: str, calls: list[dict]):
    return Client().post(
        DECIDE_URL, json.dumps(calls), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {credential}"
    )


def introspect(credential: str | None, token: str):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
    body = urlencode({"token": token})
    return Client().post(INTROSPECT_URL, body, content_type="application/x-www-form-urlencoded", **headers)
