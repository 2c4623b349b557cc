"""Example requests and the baseline's test cases (stored with the baseline version; a draft must pass them
or replace them with its own).

`example_request()` is one ordinary allowed call — an active, low-tier agent reading a repository through
a standing entitlement under a live token — and each case changes one thing about it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from identities.runtime.policy.snapshots import (
    AcceptableUseSnapshot,
    DecisionRequest,
    EntitlementSnapshot,
    ExceptionSnapshot,
    GrantSnapshot,
    IdentitySnapshot,
    RequestContext,
    TaskSnapshot,
    TokenSnapshot,
    ToolSnapshot,
)
from identities.runtime.policy.validation import PolicyTestCase

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
TASK = "7d4f7c8e-2b1a-4c1e-9a55-000000000001"

TOOLS = {
    tool.key: tool
    for tool in (
        ToolSnapshot("github.read_repo", "internal"),
        ToolSnapshot("github.create_pull_request", "internal", production=True),
        ToolSnapshot("vault.read_secret", "restricted", production=True, production_secrets=True),
        ToolSnapshot("slack.post_message", "internal"),
    )
}
AUP_TOOLS = frozenset({"github.read_repo", "github.create_pull_request", "vault.read_secret"})


def identity(**changes: Any) -> IdentitySnapshot:
    base = IdentitySnapshot(
        id="3f0c2a9e-5d1b-4e7a-8c6f-000000000001",
        kind="agent",
        status="active",
        risk_tier="low",
        environment="prod",
        owners_active=True,
        acceptable_use=AcceptableUseSnapshot(NOW - 30 * DAY, NOW + 30 * DAY, AUP_TOOLS),
    )
    return replace(base, **changes)


def standing(tool: str, action: str, scope: dict[str, str] | None = None, **changes: Any) -> EntitlementSnapshot:
    return EntitlementSnapshot(id=f"ent-{tool}-{action}", tool_key=tool, action=action, mode="standing",
                               scope=scope or {}, **changes)  # fmt: skip


def jit(tool: str, action: str, grant_id: str | None = "grant-1", **changes: Any) -> EntitlementSnapshot:
    return EntitlementSnapshot(id=f"jit-{tool}-{action}", tool_key=tool, action=action, mode="jit",
                               grant_id=grant_id, expires_at=NOW + 30 * MINUTE, **changes)  # fmt: skip


def grant(grant_id: str = "grant-1", **changes: Any) -> GrantSnapshot:
    return replace(GrantSnapshot(grant_id, NOW - 5 * MINUTE, NOW + 25 * MINUTE, task_id=TASK), **changes)


def exception(rule_id: str, **changes: Any) -> ExceptionSnapshot:
    return replace(ExceptionSnapshot("exc-1", rule_id, NOW - DAY, NOW + DAY), **changes)


def example_request(
    *,
    tool: str = "github.read_repo",
    action: str = "read",
    entitlements: tuple[EntitlementSnapshot, ...] | None = None,
    resource: dict[str, str] | None = None,
    now: datetime = NOW,
    task_completed: bool = False,
    token: TokenSnapshot | bool | None = True,
    **changes: Any,
) -> DecisionRequest:
    """The ordinary allowed call, with `changes` applied (identity, grants, exceptions …)."""
    if entitlements is None:
        entitlements = (standing(tool, action, {"repo": "acme/*"}),)
    if token is True:
        token = TokenSnapshot("jti-1", NOW + 10 * MINUTE, frozenset({f"{tool}:{action}"}))
    context = RequestContext(
        now=now,
        task=TaskSnapshot(TASK, completed=task_completed),
        token=token or None,
        environment="prod",
        chain_depth=1,
        act_chain=("spiffe://prod.example.com/agent/orchestrator",),
    )
    base = DecisionRequest(
        identity=identity(),
        tool=TOOLS[tool],
        action=action,
        context=context,
        resource=resource if resource is not None else {"repo": "acme/api"},
        entitlements=entitlements,
    )
    return replace(base, **changes)


def baseline_cases() -> list[PolicyTestCase]:
    write_pr = {"tool": "github.create_pull_request", "action": "write"}
    secret = {"tool": "vault.read_secret", "action": "read", "resource": {}}
    cases = [
        ("standing read is allowed", example_request(), "allow", ["allow-standing-entitlement"]),
        ("nothing covers the call", example_request(entitlements=()), "deny", ["default-deny"]),
        ("resource outside the scope", example_request(resource={"repo": "other/api"}), "deny", ["default-deny"]),
        ("suspended identity", example_request(identity=identity(status="suspended")), "deny",
         ["deny-identity-not-active"]),
        ("no acceptable use", example_request(identity=identity(acceptable_use=None)), "deny",
         ["deny-acceptable-use-invalid"]),
        ("tool outside acceptable use", example_request(tool="slack.post_message"), "deny",
         ["deny-tool-outside-acceptable-use"]),
        ("standing write on a medium identity", example_request(**write_pr, identity=identity(risk_tier="medium")),
         "allow", ["allow-standing-entitlement"]),
        ("standing write on a high identity", example_request(**write_pr, identity=identity(risk_tier="high")),
         "deny", ["deny-standing-privileged-high-risk"]),
        ("standing write on a high identity with an exception",
         example_request(**write_pr, identity=identity(risk_tier="high"),
                         exceptions=(exception("deny-standing-privileged-high-risk"),)),
         "allow", ["allow-standing-entitlement"]),
        ("production secrets through standing access",
         example_request(**secret, entitlements=(standing("vault.read_secret", "read"),)), "deny",
         ["deny-production-secrets-without-jit"]),
        ("production secrets through a JIT grant",
         example_request(**secret, entitlements=(jit("vault.read_secret", "read"),), grants=(grant(),)), "allow",
         ["allow-jit"]),
        ("expired token", example_request(now=NOW + 11 * MINUTE), "deny", ["deny-token-inactive"]),
        ("completed task", example_request(task_completed=True), "deny", ["deny-task-ended"]),
        ("call outside the token's scope", example_request(token=TokenSnapshot("j", NOW + MINUTE, frozenset())),
         "deny", ["deny-outside-token-scope"]),
    ]  # fmt: skip
    return [PolicyTestCase.from_request(name, request, expect, reasons) for name, request, expect, reasons in cases]
