"""The policy decision before every tool call, asked by a gateway, and token introspection.

One round trip reads everything (identities.runtime.lookups); the token's signature and expiry are checked
here, revocation, the task, grants and identity status against the database and the clock of this request;
the active policy version decides; a few checks are repeated after it so that no policy text can let an
expired token, an ended task or a suspended identity through; one INSERT logs every decision.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from identities.runtime import access_tokens, lookups, partitions, reasons
from identities.runtime.credentials import credential_matches, gateway_prefix
from identities.runtime.decision_ids import uuid7
from identities.runtime.lookups import Lookup, at, lookup
from identities.runtime.models import PolicyVersion
from identities.runtime.policy import (
    AcceptableUseSnapshot,
    DecisionRequest,
    EntitlementSnapshot,
    ExceptionSnapshot,
    GrantSnapshot,
    IdentitySnapshot,
    PolicyEvaluator,
    RequestContext,
    TaskSnapshot,
    TokenSnapshot,
    ToolSnapshot,
)
from identities.runtime.services import percall
from identities.scope import glob_match

HIGH_RISK_RULE = "deny-standing-privileged-high-risk"  # what a RiskException accepts
EVALUATOR = PolicyEvaluator()  # one per process: the parsed policy set and entity cache live here


class GatewayUnauthenticated(Exception):
    pass


@dataclass(frozen=True)
class Call:
    token: str
    tool: str
    action: str
    resource: dict[str, str] = field(default_factory=dict)
    environment: str = ""
    chain_depth: int = 0
    trace_id: str = ""  # from the W3C traceparent the gateway passed on, "" when none
    span_id: str = ""  # the caller's span (the traceparent's parent-id)


@dataclass
class Answer:
    allow: bool
    reasons: list[str]
    decision_id: str
    context: dict[str, Any] | None = None  # a gated call's access request (AuthZEN-like), else nothing

    @property
    def retry_after(self) -> int | None:
        return self.context["access_request"]["retry_after"] if self.context else None

    def as_json(self) -> dict[str, Any]:
        body = {"decision": "allow" if self.allow else "deny", "reasons": self.reasons, "decision_id": self.decision_id}
        if self.context is not None:
            body["context"] = self.context
        return body


@dataclass
class _Item:
    call: Call
    token: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None
    request: DecisionRequest | None = None
    allow: bool = False
    reasons: list[str] = field(default_factory=list)
    evaluated: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] | None = None


def _authenticate(credential: str | None, data: Lookup) -> dict[str, Any]:
    gateway = data.gateway
    if gateway is None or not credential_matches(credential or "", gateway["digest"]):
        raise GatewayUnauthenticated("The gateway credential is invalid.")
    if not gateway["enabled"] or gateway["identity_status"] != "active":
        raise GatewayUnauthenticated("This gateway is disabled or its identity is not active.")
    return gateway


def _parsed(token: str) -> access_tokens.ParsedToken | None:
    try:
        return access_tokens.parse(token)
    except access_tokens.InvalidAccessToken:
        return None


class _Snapshots:
    """Snapshots built once per identity and tool, so a batch shares them (and the evaluator's cache)."""

    def __init__(self, data: Lookup, tool_keys: list[str]):
        self.data, self.tool_keys = data, tool_keys
        self._identities: dict[int, IdentitySnapshot] = {}
        self._tools: dict[str, ToolSnapshot] = {}

    def identity(self, identity_id: int) -> IdentitySnapshot:
        found = self._identities.get(identity_id)
        if found is None:
            row, aup = self.data.identities[identity_id], self.data.aups.get(identity_id)
            acceptable = None
            if aup is not None:
                patterns = aup["allowed_tools"] or []
                tools = frozenset(k for k in self.tool_keys if any(glob_match(p, k) for p in patterns))
                acceptable = AcceptableUseSnapshot(at(aup["valid_from"]), at(aup["valid_until"]), tools)
            found = self._identities[identity_id] = IdentitySnapshot(
                id=row["uuid"],
                kind=row["kind"],
                status=row["status"],
                risk_tier=row["risk_tier"],
                environment=row["environment"],
                owners_active=row["owners_active"],
                acceptable_use=acceptable,
            )
        return found

    def tool(self, key: str) -> ToolSnapshot:
        found = self._tools.get(key)
        if found is None:
            row = self.data.tools[key]
            found = self._tools[key] = ToolSnapshot(
                row["key"], row["sensitivity"], row["production"], row["production_secrets"]
            )
        return found

    def access(self, identity_id: int, tool_key: str):
        entitlements, grants, exceptions = [], {}, []
        for row in self.data.entitlements.get((identity_id, tool_key), ()):
            grant = self.data.grants.get(row["grant_id"]) if row["grant_id"] else None
            entitlements.append(
                EntitlementSnapshot(
                    id=row["uuid"],
                    tool_key=tool_key,
                    action=row["action"],
                    mode=row["mode"],
                    scope=row["scope"],
                    valid_from=at(row["valid_from"]),
                    expires_at=at(row["expires_at"]),
                    grant_id=grant["uuid"] if grant else None,
                )
            )
            if grant is not None:
                grants[grant["uuid"]] = GrantSnapshot(
                    grant["uuid"], at(grant["starts_at"]), at(grant["ends_at"]), grant["task"], grant["ended"]
                )
            for exception in self.data.exceptions.get(row["id"], ()):
                exceptions.append(
                    ExceptionSnapshot(
                        exception["uuid"],
                        HIGH_RISK_RULE,
                        at(exception["valid_from"]),
                        at(exception["valid_until"]),
                        entitlement_id=row["uuid"],
                    )
                )
        return tuple(entitlements), tuple(grants.values()), tuple(exceptions)


def _prepare(item: _Item, parsed, data: Lookup, gateway: dict[str, Any], snaps: _Snapshots, now: datetime) -> None:
    token = data.tokens.get(parsed.jti) if parsed is not None else None
    if token is None or token["kid"] != parsed.kid or not access_tokens.signature_valid(parsed, token["public_key"]):
        item.reasons = [reasons.TOKEN_INVALID]
        return
    claims = parsed.claims
    if claims.get("iss") != settings.RUNTIME_ISSUER or claims.get("aud") != token["audience"]:
        item.reasons = [reasons.TOKEN_INVALID]
        return
    item.token, item.identity = token, data.identities[token["identity_id"]]
    if token["audience"] not in gateway["audiences"]:
        item.reasons = [reasons.TOKEN_OTHER_AUDIENCE]
        return
    call = item.call
    if call.tool not in data.tools:
        item.reasons = [reasons.TOOL_UNKNOWN]
        return
    task = data.tasks.get(token["task_id"]) if token["task_id"] else None
    identity = snaps.identity(token["identity_id"])
    entitlements, grants, exceptions = snaps.access(token["identity_id"], call.tool)
    context = RequestContext(
        now=now,
        task=TaskSnapshot(task["uuid"], completed=task["state"] != "open") if task else None,
        token=TokenSnapshot(
            token["jti"],
            at(token["exp"]),
            frozenset(token["scopes"]),
            revoked=token["revoked"] or token["key_status"] not in ("active", "retired"),
        ),
        environment=call.environment or identity.environment,
        chain_depth=max(len(token["act_chain"]), call.chain_depth),
        act_chain=tuple(token["act_chain"]),
    )
    item.request = DecisionRequest(
        identity, snaps.tool(call.tool), call.action, context, call.resource, entitlements, grants, exceptions
    )


def _guards(item: _Item, data: Lookup, now: datetime) -> list[str]:
    token, request = item.token, item.request
    failed = []
    if request.context.token.revoked or now >= request.context.token.expires_at:
        failed.append(reasons.TOKEN_INACTIVE)
    if request.context.task is not None and request.context.task.completed:
        failed.append(reasons.TASK_ENDED)
    if request.identity.status != "active":
        failed.append(reasons.IDENTITY_NOT_ACTIVE)
    actor = data.identities.get(token["actor_id"]) if token["actor_id"] else None
    if actor is not None and actor["status"] != "active":
        failed.append(reasons.ACTOR_NOT_ACTIVE)
    return failed


def _evaluate(items: list[_Item], data: Lookup, now: datetime) -> str | None:
    policy = data.policy
    pending = [item for item in items if item.request is not None]
    if policy is None:
        for item in pending:
            item.reasons = [reasons.NO_ACTIVE_POLICY]
        return None
    EVALUATOR.ensure(
        policy["uuid"], lambda: PolicyVersion.objects.values_list("policy_text", flat=True).get(uuid=policy["uuid"])
    )
    requests = [item.request for item in pending]
    try:
        decisions = EVALUATOR.decide_batch(requests) if len(requests) > 1 else [EVALUATOR.decide(r) for r in requests]
    except ValueError:
        decisions = [EVALUATOR.decide(request) for request in requests]
    for item, decision in zip(pending, decisions, strict=True):
        item.allow, item.reasons, item.evaluated = decision.allow, list(decision.reasons), decision.evaluated
        failed = _guards(item, data, now)
        if failed and item.allow:
            item.allow, item.reasons = False, failed
        elif failed:
            item.reasons += [g for g in failed if reasons.GUARDED_BY_RULE.get(g) not in item.reasons]
    return policy["id"]


_INSERT = (
    "INSERT INTO runtime_policydecision (uuid, decided_at, gateway_id, identity_id, token_jti, task_id, act_chain, "
    "tool_key, action, resource, evaluated, policy_version_id, decision, reasons, latency_us, trace_id, span_id) "
    "VALUES "
)
# Typed placeholders: the statement is prepared, so its parameter types must not depend on the values.
_ROW = (
    "(%s::uuid, %s::timestamptz, %s::bigint, %s::bigint, %s::text, %s::bigint, %s::text[], %s::text, %s::text, "
    "%s::jsonb, %s::jsonb, %s::bigint, %s::text, %s::text[], %s::int, %s::text, %s::text)"
)


def _log(items: list[_Item], ids: list, gateway_id: int, policy_id: int | None, now: datetime, started: float):
    latency = int((time.perf_counter() - started) * 1_000_000)
    params: list[Any] = []
    for item, decision_id in zip(items, ids, strict=True):
        token = item.token or {}
        params += [
            decision_id, now, gateway_id, token.get("identity_id"), token.get("jti", ""), token.get("task_id"),
            token.get("act_chain", []), item.call.tool[:200], item.call.action[:10], json.dumps(item.call.resource),
            json.dumps(item.evaluated), policy_id if item.evaluated else None, "allow" if item.allow else "deny",
            item.reasons, latency, item.call.trace_id, item.call.span_id,
        ]  # fmt: skip
    sql = _INSERT + ", ".join([_ROW] * len(items))
    try:
        _execute(sql, params)
    except IntegrityError:
        # No partition for today (beat has been down for a week): create it and try once more.
        partitions.DECISION_LOG.create(now.date(), 2)
        _execute(sql, params)


def _execute(sql: str, params: list[Any]) -> None:
    # Requests run in autocommit: one statement, one round trip. Inside a transaction (a batch job, a test)
    # a savepoint keeps a failed insert from spoiling it.
    if connection.in_atomic_block:
        with transaction.atomic():
            lookups.execute(sql, params)
        return
    lookups.execute(sql, params)


def decide(*, credential: str | None, calls: list[Call], started: float | None = None) -> list[Answer]:
    """Decide every call; GatewayUnauthenticated when the caller is not an enabled, active gateway."""
    started = time.perf_counter() if started is None else started
    prefix = gateway_prefix(credential)
    if prefix is None:
        raise GatewayUnauthenticated("Send the gateway credential as Authorization: Bearer aiamgw_….")
    parsed = [_parsed(call.token) for call in calls]
    now = timezone.now()
    tool_keys = list(dict.fromkeys(call.tool for call in calls))
    data = lookup(prefix=prefix, jtis=[p.jti for p in parsed if p is not None], tools=tool_keys, now=now)
    gateway = _authenticate(credential, data)
    snaps = _Snapshots(data, tool_keys)
    items = [_Item(call) for call in calls]
    for item, token in zip(items, parsed, strict=True):
        _prepare(item, token, data, gateway, snaps, now)
    policy_id = _evaluate(items, data, now)
    ids = [uuid7(now) for _ in items]
    gated = [
        (item, i)
        for item, i in zip(items, ids, strict=True)
        if item.allow and percall.gated(item.identity, item.call.action)
    ]
    if gated:
        # An approval used and the decision it allowed commit together (or neither does).
        with transaction.atomic():
            for item, decision_id in gated:
                _reauthorise(item, decision_id, data, gateway, now)
            _log(items, ids, gateway["id"], policy_id, now, started)
    else:
        _log(items, ids, gateway["id"], policy_id, now, started)
    return [
        Answer(item.allow, item.reasons, str(decision_id), item.context)
        for item, decision_id in zip(items, ids, strict=True)
    ]


def _reauthorise(item: _Item, decision_id, data: Lookup, gateway: dict[str, Any], now: datetime) -> None:
    """A call the policy allowed, of an identity in per-call mode: allowed only by consuming an approval of
    exactly this call; otherwise denied with the access request to approve (the same one while pending)."""
    token, call = item.token, item.call
    settled = percall.settle(
        identity_id=token["identity_id"], actor_id=token["actor_id"], task_id=token["task_id"],
        gateway_id=gateway["id"], tool_id=data.tools[call.tool]["id"], tool_key=call.tool, action=call.action,
        resource=call.resource, decision_id=decision_id, now=now,
    )  # fmt: skip
    item.evaluated = {**item.evaluated, "per_call": {"authorisation": settled.authorisation, "used": settled.consumed}}
    if settled.consumed:
        item.reasons = [*item.reasons, reasons.CALL_APPROVED]
        return
    item.allow, item.reasons = False, [reasons.CALL_NEEDS_APPROVAL]
    item.context = settled.context(str(decision_id))


def introspect(*, credential: str | None, token: str) -> dict[str, Any]:
    """RFC 7662: the token's claims when it is active for this gateway right now, else {"active": false}."""
    prefix = gateway_prefix(credential)
    if prefix is None:
        raise GatewayUnauthenticated("Send the gateway credential as Authorization: Bearer aiamgw_….")
    parsed = _parsed(token)
    now = timezone.now()
    data = lookup(prefix=prefix, jtis=[parsed.jti] if parsed else [], tools=[], now=now)
    gateway = _authenticate(credential, data)
    row = data.tokens.get(parsed.jti) if parsed is not None else None
    inactive = {"active": False}
    if row is None or row["kid"] != parsed.kid or not access_tokens.signature_valid(parsed, row["public_key"]):
        return inactive
    if row["audience"] not in gateway["audiences"] or parsed.claims.get("aud") != row["audience"]:
        return inactive
    if row["revoked"] or row["key_status"] == "compromised" or now >= at(row["exp"]):
        return inactive
    task = data.tasks.get(row["task_id"]) if row["task_id"] else None
    actor = data.identities.get(row["actor_id"]) if row["actor_id"] else None
    if (task is not None and task["state"] != "open") or data.identities[row["identity_id"]]["status"] != "active":
        return inactive
    if actor is not None and actor["status"] != "active":
        return inactive
    claims = parsed.claims
    answer = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "task_id", "act"):
        if name in claims:
            answer[name] = claims[name]
    return answer
