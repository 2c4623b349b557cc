"""Credentials for the reference client's demo (`python -m agentiam.client demo`), local profile only.

Registers a demo gateway and an assertion key on a demo agent, idempotently, and writes what the demo needs
(the gateway credential, the agent's private key) to VAR_DIR/demo/reference-client.json with mode 0600. The
credential and the private key exist nowhere else: when the file is lost or no longer matches the database,
the credential is rotated and a new key registered (the old one disabled). The demo manager's API token is there
too, so the demo can approve the agent's elevation request as that manager would (a new one when it no longer
works)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from jwt.algorithms import OKPAlgorithm

from agentiam.errors import Conflict
from identities.api_tokens import token_user
from identities.models import Identity
from identities.runtime import services as runtime
from identities.runtime.credentials import credential_matches
from identities.runtime.models import AssertionKey, Gateway
from identities.services import api_token_create

AGENT_NAME = "code-review-agent"  # seeded by identities.seeds.registry: reads acme/* repositories
GATEWAY_NAME = "reference-demo-gateway"
AUDIENCE = "https://tools.demo.agentiam.local/mcp"
KID_PREFIX = "reference-demo-"
FILE_NAME = "reference-client.json"
DEMO_CALLS = {
    "scope": "github.read_repository:read",
    "tool": "github.read_repository",
    "action": "read",
    "allowed_resource": {"repo": "acme/api"},
    "denied_resource": {"repo": "globex/payroll"},
    "missing_scope": "github.merge_pull_request:write",
}
APPROVER = "manager"  # identities.seeds.people: the demo owner's manager
APPROVER_TOKEN_NAME = "reference client demo (approves elevation)"  # noqa: S105 - a name
APPROVER_TOKEN_DAYS = 30
SKIPPED = "Reference client demo: not seeded ({why})."


def secrets_path(directory: Path | None = None) -> Path:
    return (directory or settings.VAR_DIR / "demo") / FILE_NAME


def seed(directory: Path | None = None, *, profile: str = "") -> list[str]:
    """Idempotent; refuses anything but the local profile (production never holds demo secrets)."""
    profile = profile or settings.PROFILE
    if profile == "test":
        return []  # quiet in the suite's seed_demo runs; tests call seed(directory, profile="local")
    if profile != "local" or settings.PRODUCTION:
        return [SKIPPED.format(why=f"the {settings.PROFILE} profile holds no demo secrets")]
    agent = Identity.objects.filter(name=AGENT_NAME, status="active").first()
    admin = get_user_model().objects.filter(username="admin").first()
    if agent is None or admin is None:
        return [SKIPPED.format(why=f"no active identity {AGENT_NAME!r} or no admin")]
    path = secrets_path(directory)
    saved = _read(path)
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves the rest of seed_demo (and `make run`) intact
            credential = _gateway_credential(admin, saved.get("gateway", {}).get("credential", ""))
            private_pem, kid = _assertion_key(admin, agent, saved.get("agent", {}).get("private_key_pem", ""))
            approver = _approver_token(saved.get("approver", {}).get("api_token", ""))
    except (PermissionDenied, ValidationError, Conflict) as error:
        return [SKIPPED.format(why=f"the demo configuration was refused: {error}")]
    document = {
        "token_endpoint": settings.RUNTIME_TOKEN_ENDPOINT,
        "agent": {"id": str(agent.uuid), "name": agent.name, "kid": kid, "private_key_pem": private_pem},
        "gateway": {"name": GATEWAY_NAME, "audience": AUDIENCE, "credential": credential},
        **({"approver": approver} if approver else {}),
        **DEMO_CALLS,
    }
    if document != saved:
        _write(path, document)
    return [f"Reference client demo: credentials in {path} (python -m agentiam.client demo)."]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)
    os.replace(temporary, path)


def _gateway_credential(admin, saved: str) -> str:
    gateway = Gateway.objects.filter(name=GATEWAY_NAME).first()
    if gateway is None:
        return runtime.gateway_create(
            actor=admin, name=GATEWAY_NAME, audiences=[AUDIENCE], environment="dev",
            description="The reference client's demo gateway (local profile only).",
        )[1]  # fmt: skip
    if gateway.enabled and saved and credential_matches(saved, gateway.digest):
        return saved
    return runtime.gateway_rotate_credential(gateway=gateway, actor=admin)[1]


def _approver_token(saved: str) -> dict | None:
    """The demo manager's API token: the saved one while it still works, else a new one (None: no manager)."""
    manager = get_user_model().objects.filter(username=APPROVER, is_active=True).first()
    if manager is None:
        return None
    held = token_user(saved) if saved else None
    if held is None or held[0].pk != manager.pk:
        saved = api_token_create(actor=manager, name=APPROVER_TOKEN_NAME, expires_in_days=APPROVER_TOKEN_DAYS)[1]
    return {"username": APPROVER, "api_token": saved}


def _kid(private_key: ed25519.Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KID_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def _assertion_key(admin, agent: Identity, saved_pem: str) -> tuple[str, str]:
    try:
        private_key = serialization.load_pem_private_key(saved_pem.encode(), password=None)
    except ValueError:
        private_key = None
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        private_key = ed25519.Ed25519PrivateKey.generate()
    kid = _kid(private_key)
    keys = AssertionKey.objects.enabled().filter(identity=agent, kid__startswith=KID_PREFIX)
    if not keys.filter(kid=kid).exists():
        jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        runtime.assertion_key_create(
            actor=admin, identity=agent, jwk={**jwk, "kid": kid}, algorithm="EdDSA",
            description="The reference client's demo key (local profile only).",
        )  # fmt: skip
    for stale in keys.exclude(kid=kid):
        runtime.config_disable(row=stale, actor=admin, reason="Replaced by a new reference client demo key.")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, kid
