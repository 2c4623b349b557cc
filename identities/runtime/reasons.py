"""Reasons a decision cites that are not policy rules: checks the runtime makes itself, whatever the active
policy says, and the policy engine's own (default deny, evaluation error)."""

from __future__ import annotations

from identities.runtime.policy import SYSTEM_REASONS, explanations

TOKEN_INVALID = "token-invalid"  # noqa: S105 - reason ids, not secrets
TOKEN_OTHER_AUDIENCE = "token-other-audience"  # noqa: S105
TOKEN_INACTIVE = "token-inactive"  # noqa: S105
TASK_ENDED = "task-ended"
IDENTITY_NOT_ACTIVE = "identity-not-active"
ACTOR_NOT_ACTIVE = "actor-not-active"
TOOL_UNKNOWN = "tool-unknown"
NO_ACTIVE_POLICY = "no-active-policy"
CALL_NEEDS_APPROVAL = "deny-call-needs-approval"
CALL_APPROVED = "allow-call-approved"

RUNTIME_REASONS = {
    TOKEN_INVALID: "The token is not an AgentIAM access token, or its signature does not verify.",
    TOKEN_OTHER_AUDIENCE: "The token was issued for an audience this gateway does not serve.",
    TOKEN_INACTIVE: "The token has expired, was revoked, or its signing key was compromised.",
    TASK_ENDED: "The token's task is completed or cancelled; its tokens and grants ended with it.",
    IDENTITY_NOT_ACTIVE: "The identity is suspended or decommissioned.",
    ACTOR_NOT_ACTIVE: "The agent acting for this identity (the token's act) is no longer active.",
    TOOL_UNKNOWN: "No tool with this key is registered, so no entitlement can cover it.",
    NO_ACTIVE_POLICY: "No policy version is active; every call is denied until one is.",
    CALL_NEEDS_APPROVAL: "Per-call re-authorisation: this write, admin or execute call needs a person's approval "
    "first; the answer carries the access request to approve, and the agent asks again after Retry-After.",
    CALL_APPROVED: "Per-call re-authorisation: a person approved exactly this call (same task, tool, action and "
    "resource) within the last 5 minutes; the approval is now used up.",
}

# Checks repeated after the policy, so a lax draft cannot let these through; each names the baseline rule
# that normally denies first (then only the rule is cited).
GUARDED_BY_RULE = {
    TOKEN_INACTIVE: "deny-token-inactive",
    TASK_ENDED: "deny-task-ended",
    IDENTITY_NOT_ACTIVE: "deny-identity-not-active",
    ACTOR_NOT_ACTIVE: None,
}


def all_explanations(policy_text: str | None = None) -> dict[str, str]:
    """Every reason id a decision may cite → its explanation (the policy's rules first)."""
    rules = explanations(policy_text) if policy_text else {}
    return {**rules, **SYSTEM_REASONS, **RUNTIME_REASONS}
