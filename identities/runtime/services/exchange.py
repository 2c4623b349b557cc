"""The token service: OAuth 2.0 Token Exchange (RFC 8693) from a workload proof to a task-scoped access token.

`subject_token` names the party on whose behalf the call is made; `actor_token`, when present, is the acting
agent's own proof and needs an enabled delegation rule. The token's scopes are those requested, each covered
for the subject *and* the actor by an active standing entitlement or an active JIT grant of the task; its
lifetime is capped by the identities' tiers and by the end of every grant it relies on. The first exchange
naming a task opens it (identities.services.task_open). Errors carry RFC 6749 codes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from identities import services as registry
from identities.models import Entitlement, Identity, Task
from identities.runtime import access_tokens, proofs, trust
from identities.runtime.models import DelegationRule, IssuedToken

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ISSUED_TOKEN_TYPE = trust.TOKEN_TYPE_ACCESS_TOKEN
MAX_SCOPES = 50
MAX_TASK_NAME = 200
_SCOPE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}):(read|write|admin|execute)$")
_TASK_NAME = re.compile(r"^[^\x00-\x1f\x7f]+$")

ERR_GRANT_TYPE = f"grant_type must be {GRANT_TYPE}."
ERR_REQUIRED = "{name} is required."
ERR_TOKEN_TYPE = "{name} must be one of: " + ", ".join(trust.PROOF_TYPES) + "."
ERR_ACTOR_TYPE = "actor_token_type is required with actor_token, and only with it."
ERR_OURS = (
    "AgentIAM access tokens are never exchanged (there is no refresh by re-exchange): present a workload proof "
    "(a JWT-SVID, an OIDC ID token or a client assertion)."
)
ERR_REQUESTED_TYPE = f"requested_token_type may only be {ISSUED_TOKEN_TYPE}."
ERR_AUDIENCE = "audience {audience!r} is not served by any registered gateway."
ERR_ONE_AUDIENCE = "Name exactly one audience: a token is usable at one gateway only."
ERR_RESOURCE = "resource is not supported: name the gateway's audience in audience."
ERR_SCOPE_SYNTAX = "Each scope is tool_key:action (action: read, write, admin or execute); {scope!r} is not."
ERR_TOO_MANY = f"At most {MAX_SCOPES} scopes per token."
ERR_UNKNOWN_TOOL = "{scope}: no tool with this key is registered."
ERR_TOOL_ACTION = "{scope}: this tool does not support the action."
ERR_TASK_NAME = f"task is a name of 1 to {MAX_TASK_NAME} printable characters, unique per identity."
ERR_TASK_CLOSED = "Task {name!r} is {state}; name a new task."
ERR_SELF_ACTOR = "actor_token names the subject itself: leave actor_token out to act for yourself."
ERR_NO_DELEGATION = (
    "{actor} may not act for {subject}: an administrator must add a delegation rule (Runtime → Delegation rules)."
)
ERR_CLIENT_HEADER = (
    "The token endpoint takes no client secret: authenticate with a workload proof, or with client_assertion "
    f"(client_assertion_type {trust.ASSERTION_TYPE})."
)
ERR_CLIENT_NOT_ACTOR = "The authenticated client is not the acting party (the actor, or the subject when acting alone)."
ERR_MISSING_SCOPES = (
    "Not covered by an active standing entitlement or a JIT grant of this task: {missing}. To get them, ask an "
    "owner of {who} to request JIT elevation for task {task!r} (or a standing entitlement), then exchange again."
)


class ExchangeError(Exception):
    """An RFC 6749 error: `error` code, description, HTTP status and the parameters at fault."""

    def __init__(self, error: str, description: str, *, status: int = 400, field: str | None = None, **extra):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.fields = {field: [description]} if field else {}
        self.extra = extra


@dataclass(frozen=True)
class ExchangeRequest:
    grant_type: str = ""
    subject_token: str = ""
    subject_token_type: str = ""
    actor_token: str = ""
    actor_token_type: str = ""
    audience: tuple[str, ...] = ()
    scope: str = ""
    task: str = ""
    requested_token_type: str = ""
    resource: tuple[str, ...] = ()
    client_assertion: str = ""
    client_assertion_type: str = ""
    authorization: str = ""


@dataclass
class Issued:
    access_token: str
    expires_in: int
    scopes: list[str]
    task: Task
    audience: str
    act: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_request(req: ExchangeRequest) -> tuple[str, list[tuple[str, str]]]:
    if req.grant_type != GRANT_TYPE:
        raise ExchangeError("unsupported_grant_type", ERR_GRANT_TYPE, field="grant_type")
    for name in ("subject_token", "subject_token_type", "audience", "scope", "task"):
        if not getattr(req, name):
            raise ExchangeError("invalid_request", ERR_REQUIRED.format(name=name), field=name)
    for name in ("subject_token", "actor_token"):
        value, kind = getattr(req, name), getattr(req, f"{name}_type")
        if value and kind not in trust.PROOF_TYPES:
            raise ExchangeError("invalid_request", ERR_TOKEN_TYPE.format(name=f"{name}_type"), field=f"{name}_type")
        if value and access_tokens.looks_like_ours(value):
            raise ExchangeError("invalid_request", ERR_OURS, field=name)
    if bool(req.actor_token) != bool(req.actor_token_type):
        raise ExchangeError("invalid_request", ERR_ACTOR_TYPE, field="actor_token_type")
    if req.requested_token_type and req.requested_token_type != ISSUED_TOKEN_TYPE:
        raise ExchangeError("invalid_request", ERR_REQUESTED_TYPE, field="requested_token_type")
    if req.resource:
        raise ExchangeError("invalid_target", ERR_RESOURCE, field="resource")
    if len(req.audience) != 1:
        raise ExchangeError("invalid_target", ERR_ONE_AUDIENCE, field="audience")
    if len(req.task) > MAX_TASK_NAME or not _TASK_NAME.match(req.task) or not req.task.strip():
        raise ExchangeError("invalid_request", ERR_TASK_NAME, field="task")
    wanted = list(dict.fromkeys(req.scope.split()))
    if len(wanted) > MAX_SCOPES:
        raise ExchangeError("invalid_scope", ERR_TOO_MANY, field="scope")
    scopes = []
    for scope in wanted:
        match = _SCOPE.match(scope)
        if match is None:
            raise ExchangeError("invalid_scope", ERR_SCOPE_SYNTAX.format(scope=scope), field="scope")
        scopes.append((match.group(1), match.group(2)))
    return req.audience[0], scopes


def _client(req: ExchangeRequest, loaded: trust.Trust, now: datetime) -> Identity | None:
    """RFC 7523 §2.2 client authentication, when the client attempts it (never required)."""
    if req.authorization:
        raise ExchangeError("invalid_client", ERR_CLIENT_HEADER, status=401)
    if not (req.client_assertion or req.client_assertion_type):
        return None
    if req.client_assertion_type != trust.ASSERTION_TYPE or not req.client_assertion:
        raise ExchangeError("invalid_client", ERR_CLIENT_HEADER, status=401, field="client_assertion_type")
    try:
        return trust.verify_proof(req.client_assertion, trust.ASSERTION_TYPE, loaded, now=now)[1]
    except proofs.ProofError as error:
        raise ExchangeError(
            "invalid_client", error.reason, status=401, field="client_assertion", proof_error=error.code
        ) from None


def _prove(token: str, token_type: str, loaded: trust.Trust, now: datetime, name: str):
    try:
        return trust.verify_proof(token, token_type, loaded, now=now)
    except proofs.ProofError as error:
        raise ExchangeError("invalid_grant", error.reason, field=name, proof_error=error.code) from None


@dataclass
class Cover:
    end: datetime | None
    entitlements: set[int] = field(default_factory=set)
    grants: set[int] = field(default_factory=set)


def _coverage(identity: Identity, tools: dict[str, dict], task: Task | None, now: datetime, own_task: bool):
    """{(tool_key, action): Cover}: None as `end` for standing access, else the end of the JIT grant; and the
    entitlements (and grants) the cover rests on, so that ending any of them revokes the token."""
    keys = {tool["id"]: key for key, tool in tools.items()}
    rows = (
        Entitlement.objects.filter(identity=identity, tool_id__in=keys, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), granted_at__lte=now)
        .select_related("grant")
    )
    covered: dict[tuple[str, str], Cover] = {}
    for row in rows:
        key = (keys[row.tool_id], row.action)
        cover = covered.get(key)
        if row.mode == "standing":
            if cover is None or cover.end is not None:
                cover = covered[key] = Cover(None)  # standing access: the token does not rely on a grant
            cover.entitlements.add(row.pk)
            continue
        if cover is not None and cover.end is None:
            continue
        grant = row.grant
        bound_ok = grant.task_id is None or (own_task and task is not None and grant.task_id == task.pk)
        if grant.ended_at is None and grant.starts_at <= now < grant.ends_at and bound_ok:
            end = min(grant.ends_at, row.expires_at or grant.ends_at)
            cover = covered[key] = Cover(max(cover.end, end) if cover else end, cover.entitlements if cover else set())
            cover.entitlements.add(row.pk)
            cover.grants.add(grant.pk)
    return covered


def token_exchange(req: ExchangeRequest) -> Issued:
    now = timezone.now()
    audience, wanted = _check_request(req)
    loaded = trust.load_trust(audience=audience, tools=sorted({key for key, _ in wanted}))
    if not loaded.audience_served:
        raise ExchangeError("invalid_target", ERR_AUDIENCE.format(audience=audience), field="audience")
    client = _client(req, loaded, now)
    subject_proof, subject = _prove(req.subject_token, req.subject_token_type, loaded, now, "subject_token")
    actor = None
    if req.actor_token:
        _, actor = _prove(req.actor_token, req.actor_token_type, loaded, now, "actor_token")
        if actor.pk == subject.pk:
            raise ExchangeError("invalid_grant", ERR_SELF_ACTOR, field="actor_token")
        if not DelegationRule.objects.enabled().filter(actor=actor, subject=subject).exists():
            description = ERR_NO_DELEGATION.format(actor=actor.name, subject=subject.name)
            raise ExchangeError("invalid_grant", description, field="actor_token")
    if client is not None and client.pk != (actor or subject).pk:
        raise ExchangeError("invalid_client", ERR_CLIENT_NOT_ACTOR, status=401, field="client_assertion")

    tools = loaded.tools
    for key, action in wanted:
        if key not in tools:
            raise ExchangeError("invalid_scope", ERR_UNKNOWN_TOOL.format(scope=f"{key}:{action}"), field="scope")
        if action not in tools[key]["actions"]:
            raise ExchangeError("invalid_scope", ERR_TOOL_ACTION.format(scope=f"{key}:{action}"), field="scope")
    task = Task.objects.filter(identity=subject, name=req.task).first()
    if task is not None and task.state != Task.State.OPEN:
        raise ExchangeError("invalid_grant", ERR_TASK_CLOSED.format(name=task.name, state=task.state), field="task")

    if task is None:  # opened before coverage is checked, so an elevation request can name it
        task = registry.task_open(identity=subject, name=req.task)
    parties = [(subject, _coverage(subject, tools, task, now, own_task=True))]
    if actor is not None:
        parties.append((actor, _coverage(actor, tools, task, now, own_task=False)))
    missing: list[str] = []
    lacking: set[str] = set()
    for key, action in wanted:
        for party, covered in parties:
            if (key, action) not in covered:
                missing.append(f"{key}:{action}")
                lacking.add(party.name)
                break
    if missing:
        description = ERR_MISSING_SCOPES.format(
            missing=", ".join(missing), who=" and ".join(sorted(lacking)), task=req.task
        )
        raise ExchangeError("invalid_scope", description, field="scope", missing_scopes=missing, task_id=str(task.uuid))

    ttl = settings.RUNTIME_TOKEN_TTL
    if any(party.risk_tier == "critical" for party, _ in parties):
        ttl = min(ttl, settings.RUNTIME_TOKEN_TTL_CRITICAL)
    expires_at = now + timedelta(seconds=ttl)
    relied = Cover(None)
    for _, covered in parties:
        for key, action in wanted:
            cover = covered[(key, action)]
            if cover.end is not None:
                expires_at = min(expires_at, cover.end)
            relied.entitlements |= cover.entitlements
            relied.grants |= cover.grants

    act = _act(actor, subject_proof.claims.get("act")) if actor is not None else None
    return _issue(subject, subject_proof, actor, act, task, audience, wanted, now, expires_at, relied, loaded.token_kid)


def _act(actor: Identity, earlier: object, depth: int = 0) -> dict[str, Any]:
    """RFC 8693 §4.1: the current actor outermost; earlier actors (from the subject token) nested inside."""
    act: dict[str, Any] = {"sub": str(actor.uuid)}
    nested = _earlier_act(earlier, depth + 1)
    if nested:
        act["act"] = nested
    return act


def _earlier_act(value: object, depth: int) -> dict[str, Any] | None:
    if not isinstance(value, dict) or depth > 8 or not isinstance(value.get("sub"), str):
        return None
    kept: dict[str, Any] = {"sub": value["sub"][:2048]}
    if isinstance(value.get("iss"), str):
        kept["iss"] = value["iss"][:2048]
    nested = _earlier_act(value.get("act"), depth + 1)
    if nested:
        kept["act"] = nested
    return kept


def act_chain(act: dict[str, Any] | None) -> list[str]:
    chain = []
    while isinstance(act, dict):
        chain.append(act["sub"])
        act = act.get("act")
    return chain


def _issue(subject, proof, actor, act, task, audience, wanted, now, expires_at, relied: Cover, kid_hint=None) -> Issued:
    jti = uuid.uuid4().hex
    scopes = [f"{key}:{action}" for key, action in wanted]
    claims: dict[str, Any] = {
        "iss": settings.RUNTIME_ISSUER,
        "sub": str(subject.uuid),
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "client_id": str((actor or subject).uuid),
        "scope": " ".join(scopes),
        "task_id": str(task.uuid),
    }
    if act is not None:
        claims["act"] = act
    token, kid = access_tokens.sign(claims, kid_hint=kid_hint)
    IssuedToken.objects.create(
        jti=jti,
        kid=kid,
        identity=subject,
        subject=proof.subject,
        proof_kind=proof.kind,
        actor=actor,
        act_chain=act_chain(act),
        scopes=scopes,
        task=task,
        entitlements=sorted(relied.entitlements),
        grants=sorted(relied.grants),
        audience=audience,
        issued_at=now,
        expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
    )
    return Issued(token, max(0, claims["exp"] - claims["iat"]), scopes, task, audience, act)
