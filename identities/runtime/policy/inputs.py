"""From snapshots to Cedar: the entities and the request context a decision evaluates.

Everything Cedar cannot do well — glob scopes, and comparisons with the decision's clock — is computed
here, with identities.scope.scope_matches as the one scope rule.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from identities.runtime.policy.schema import ACTIONS
from identities.runtime.policy.snapshots import DecisionRequest, IdentitySnapshot, ToolSnapshot
from identities.scope import scope_matches


class InvalidDecisionRequest(ValueError):
    pass


def identity_uid(identity: IdentitySnapshot) -> dict[str, str]:
    return {"type": "Identity", "id": identity.id}


def tool_uid(tool: ToolSnapshot) -> dict[str, str]:
    return {"type": "Tool", "id": tool.key}


# Cached: the same snapshot yields the same document, shared by the decisions that evaluated it (read-only).
@lru_cache(maxsize=4096)
def identity_entity(identity: IdentitySnapshot, aup_valid: bool) -> dict[str, Any]:
    aup = identity.acceptable_use
    return {
        "uid": identity_uid(identity),
        "attrs": {
            "kind": identity.kind,
            "status": identity.status,
            "risk_tier": identity.risk_tier,
            "environment": identity.environment,
            "aup_valid": aup_valid,
            "aup_tools": sorted(aup.tools) if aup is not None else [],
            "owners_active": identity.owners_active,
        },
        "parents": [],
    }


@lru_cache(maxsize=4096)
def tool_entity(tool: ToolSnapshot) -> dict[str, Any]:
    return {
        "uid": tool_uid(tool),
        "attrs": {
            "key": tool.key,
            "sensitivity": tool.sensitivity,
            "production": tool.production,
            "production_secrets": tool.production_secrets,
        },
        "parents": [],
    }


def aup_valid(request: DecisionRequest) -> bool:
    aup = request.identity.acceptable_use
    return aup is not None and aup.in_force(request.context.now)


def cedar_action(action: str) -> str:
    try:
        return ACTIONS[action]
    except KeyError:
        raise InvalidDecisionRequest(f"action must be one of {', '.join(ACTIONS)}, not {action!r}") from None


def cedar_context(request: DecisionRequest) -> dict[str, Any]:
    ctx = request.context
    now = ctx.now
    task_id = ctx.task.id if ctx.task is not None else None
    tool_key, action = request.tool.key, request.action
    grants = {grant.id: grant for grant in request.grants}

    standing: list[str] = []
    jit = grant_covers = False
    for entitlement in request.entitlements:
        if entitlement.tool_key != tool_key or entitlement.action != action or not entitlement.in_force(now):
            continue
        if not scope_matches(entitlement.scope, request.resource):
            continue
        if entitlement.mode == "standing":
            standing.append(entitlement.id)
        elif entitlement.grant_id is None:
            jit = True
        else:
            grant = grants.get(entitlement.grant_id)
            if grant is not None and grant.in_force(now, task_id):
                jit = grant_covers = True

    exceptions = sorted(
        {
            exception.rule_id
            for exception in request.exceptions
            if exception.in_force(now) and (exception.entitlement_id is None or exception.entitlement_id in standing)
        }
    )
    token = ctx.token
    return {
        "now": int(now.timestamp()),
        "task": task_id or "",
        "task_active": ctx.task is None or not ctx.task.completed,
        "token_active": token is None or (not token.revoked and now < token.expires_at),
        "token_scope_covers": token is None or f"{tool_key}:{action}" in token.scopes,
        "environment": ctx.environment,
        "chain_depth": ctx.chain_depth,
        "actor": ctx.act_chain[0] if ctx.act_chain else "",
        "act_chain": list(ctx.act_chain),
        "standing_covers": bool(standing),
        "jit_covers": jit,
        "grant_covers": grant_covers,
        "entitlement_covers": bool(standing) or jit,
        "exceptions": exceptions,
    }


def cedar_request(request: DecisionRequest) -> dict[str, Any]:
    return {
        "principal": identity_uid(request.identity),
        "action": {"type": "Action", "id": cedar_action(request.action)},
        "resource": tool_uid(request.tool),
        "context": cedar_context(request),
    }


def evaluated_request(request: DecisionRequest, cedar: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evaluated request as the decision log stores it: minimal entities and the Cedar request."""
    valid = aup_valid(request)
    return {
        "entities": [identity_entity(request.identity, valid), tool_entity(request.tool)],
        "request": cedar if cedar is not None else cedar_request(request),
    }
