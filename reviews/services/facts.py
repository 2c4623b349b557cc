"""What the request services read before they write: the scopes asked for, the rule that applies, what is
pinned to a request (and what changed since), and the facts reviews.rules decides on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from agentiam.errors import invalid
from agentiam.permissions import roles_of
from identities.models import (
    AcceptableUse,
    Action,
    Entitlement,
    EntitlementMode,
    Identity,
    OwnershipRole,
    Profile,
    Tool,
    current_ownerships,
)
from identities.runtime.models import PolicyStatus, PolicyVersion
from identities.scope import glob_match, scope_within
from reviews import rules
from reviews.models import ApprovalRule, Delegation, ElevationRequest, Eligibility

__all__ = [
    "ERR_SCOPES",
    "Rule",
    "asked",
    "candidate",
    "caps_for",
    "changed",
    "pin",
    "rule_for",
    "slots",
    "tools_for",
]

MAX_SCOPES = 20
ERR_SCOPES = "Give one to 20 scopes, each tool_key:action."
ERR_UNKNOWN_TOOL = "Unknown tool: {key}."
ERR_ACTION = "{key} does not offer {action}."
DEFAULT_RULE_SECONDS = 3600  # no rule matches: one approver, an hour


@dataclass(frozen=True)
class Rule:
    """The strictest of the rules matching a request's scopes."""

    approvals_needed: int
    max_duration_seconds: int
    auto_approve: bool
    rule: ApprovalRule | None  # the one that set approvals_needed (None: the built-in default)
    approver_group_id: int | None


def tools_for(scopes: object) -> list[tuple[Tool, str]]:
    """Each "tool_key:action" of `scopes` as (tool, action), sorted and without repeats; 400 naming scopes."""
    if not isinstance(scopes, list) or not 0 < len(scopes) <= MAX_SCOPES:
        raise invalid("scopes", ERR_SCOPES)
    pairs = set()
    for entry in scopes:
        if not isinstance(entry, str) or entry.count(":") != 1:
            raise invalid("scopes", ERR_SCOPES)
        pairs.add(tuple(entry.split(":")))
    tools = {tool.key: tool for tool in Tool.objects.filter(key__in=[key for key, _ in pairs])}
    found = []
    for key, action in sorted(pairs):
        if key not in tools:
            raise invalid("scopes", ERR_UNKNOWN_TOOL.format(key=key[:200]))
        if action not in Action.values or action not in tools[key].actions:
            raise invalid("scopes", ERR_ACTION.format(key=key, action=action[:20]))
        found.append((tools[key], action))
    return found


def _matches(rule: ApprovalRule, identity: Identity, tool: Tool, action: str) -> bool:
    return (
        rule.risk_tier in ("", identity.risk_tier)
        and rule.tool_sensitivity in ("", tool.sensitivity)
        and rule.data_class in ("", tool.data_class)
        and rule.environment in ("", identity.environment)
        and rule.action in ("", action)
        and rule.production_secrets in (None, tool.production_secrets)
    )


def _eligible(identity: Identity, tool: Tool, action: str, scope: dict, now: datetime) -> bool:
    rows = Eligibility.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=now), identity=identity, tool=tool, action=action, valid_from__lte=now
    )
    return any(scope_within(scope, row.scope) for row in rows)


def rule_for(identity: Identity, pairs: list[tuple[Tool, str]], scope: dict) -> Rule:
    """The first enabled rule by priority for each scope, then the strictest: most approvals (fewer where an
    Eligibility covers the scope and the rule allows it), shortest cap, auto-approved only if all are."""
    now = timezone.now()
    enabled = list(ApprovalRule.objects.filter(enabled=True).order_by("priority"))
    picked: list[tuple[int, ApprovalRule | None]] = []
    for tool, action in pairs:
        rule = next((r for r in enabled if _matches(r, identity, tool, action)), None)
        needed = rule.approvals_needed if rule else 1
        if rule and rule.eligible_approvals and _eligible(identity, tool, action, scope, now):
            needed = rule.eligible_approvals
        picked.append((needed, rule))
    needed, strictest = max(picked, key=lambda item: item[0])
    return Rule(
        approvals_needed=needed,
        max_duration_seconds=min(r.max_duration_seconds if r else DEFAULT_RULE_SECONDS for _, r in picked),
        auto_approve=all(r is not None and r.auto_approve for _, r in picked),
        rule=strictest,
        approver_group_id=strictest.approver_group_id if strictest else None,
    )


def caps_for(identity: Identity, pairs: list[tuple[Tool, str]]) -> dict[tuple[int, str], tuple[int, int, bool]]:
    """For each (tool, action) alone: (duration cap, approvals needed, auto-approved), the rules read once — what
    the request form shows beside each choice (a request takes the strictest of its scopes', see rule_for)."""
    enabled = list(ApprovalRule.objects.filter(enabled=True).order_by("priority"))
    found = {}
    for tool, action in pairs:
        rule = next((r for r in enabled if _matches(r, identity, tool, action)), None)
        if rule is None:
            found[tool.pk, action] = (DEFAULT_RULE_SECONDS, 1, False)
        else:
            found[tool.pk, action] = (rule.max_duration_seconds, rule.approvals_needed, rule.auto_approve)
    return found


def current_aup(identity: Identity) -> AcceptableUse | None:
    now = timezone.now()
    return (
        identity.acceptable_uses.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now), valid_from__lte=now)
        .order_by("-version")
        .first()
    )


def aup_allows(aup: AcceptableUse, tool: Tool) -> bool:
    tool_ok = any(glob_match(pattern, tool.key) for pattern in aup.allowed_tools)
    return tool_ok and (not aup.data_classes or tool.data_class in aup.data_classes)


def pin(identity: Identity, pairs: list[tuple[Tool, str]]) -> tuple[dict, str, PolicyVersion | None]:
    """What a request is decided on, its digest and the policy version in force."""
    aup = current_aup(identity)
    pinned = {
        "identity": {key: getattr(identity, key) for key in ("status", "risk_tier", "environment", "is_orphaned")},
        "tools": {
            tool.key: {k: getattr(tool, k) for k in ("sensitivity", "data_class", "production", "production_secrets")}
            for tool, _ in pairs
        },
        "acceptable_use": aup.version if aup else None,
    }
    digest = hashlib.sha256(json.dumps(pinned, sort_keys=True).encode()).hexdigest()
    policy = PolicyVersion.objects.filter(status=PolicyStatus.ACTIVE).first()
    return pinned, digest, policy


def changed(request: ElevationRequest) -> list[str]:
    """What changed since the request was made, in words (nothing: it may be decided on its rules)."""
    identity = Identity.objects.get(pk=request.identity_id)
    try:
        pairs = tools_for(request.scopes)
    except ValidationError:
        return ["a tool no longer offers what was asked"]
    now_pinned, digest, policy = pin(identity, pairs)
    if digest == request.digest and policy == request.policy_version:
        return []
    was, found = request.pinned, []
    for key, value in now_pinned["identity"].items():
        if was.get("identity", {}).get(key) != value:
            found.append(f"the identity's {key.replace('_', ' ')} changed")
    for tool_key, facts in now_pinned["tools"].items():
        for key, value in facts.items():
            if was.get("tools", {}).get(tool_key, {}).get(key) != value:
                found.append(f"{tool_key}'s {key.replace('_', ' ')} changed")
    if was.get("acceptable_use") != now_pinned["acceptable_use"]:
        found.append("the acceptable-use record changed")
    if policy != request.policy_version:
        found.append("the policy in force changed")
    return found or ["what was asked changed"]


def asked(request: ElevationRequest) -> rules.Asked:
    """The persons separation of duties bars from deciding this request."""
    identity = request.identity
    owners = current_ownerships().filter(identity=identity).values_list("person_id", flat=True)
    # The granter of what is asked: whoever granted the identity live standing access to one of the asked
    # tool and action pairs. Approving an earlier JIT request for it (a grant) does not bar the next one.
    asked_pairs = Q()
    for entry in request.scopes:
        key, action = entry.split(":")
        asked_pairs |= Q(tool__key=key, action=action)
    granters = (
        Entitlement.objects.filter(
            asked_pairs, identity=identity, mode=EntitlementMode.STANDING, revoked_at__isnull=True
        )
        .exclude(granted_by__isnull=True)
        .values_list("granted_by_id", flat=True)
    )
    return rules.Asked(
        requester=request.requested_by_id,
        owners=frozenset(owners),
        holders=frozenset({identity.person_id} - {None}),
        granters=frozenset(granters),
        decided_by=frozenset(request.approvals.values_list("approver_id", flat=True)),
    )


def candidate(person_id: int, group_id: int | None) -> rules.Candidate:
    person = get_user_model().objects.filter(pk=person_id).first()
    if person is None:
        return rules.Candidate(person_id, active=False)
    in_group = group_id is not None and person.groups.filter(pk=group_id).exists()
    return rules.Candidate(person.pk, roles_of(person), in_approver_group=in_group, active=person.is_active)


class _Lookup(Mapping):
    """person → person, read from the database one key at a time (routing asks a few keys, never all)."""

    def __init__(self, rows, column: str):
        self.rows, self.column, self.cache = rows, column, {}

    def __getitem__(self, person: int) -> int:
        if person not in self.cache:
            self.cache[person] = self.rows(person).values_list(self.column, flat=True).first()
        if self.cache[person] is None:
            raise KeyError(person)
        return self.cache[person]

    def __iter__(self):
        return iter(k for k, v in self.cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self.cache.values() if v is not None)


def slots(request: ElevationRequest, group_id: int | None) -> list[int]:
    """Who the open approval slots are routed to now: from the accountable owner's manager, through live
    delegations, falling back to managers' managers; each slot after the first skips those before it."""
    now = timezone.now()
    accountable = current_ownerships().filter(identity=request.identity_id, role=OwnershipRole.ACCOUNTABLE).first()
    start = None
    if accountable is not None:
        start = Profile.objects.filter(user_id=accountable.person_id).values_list("manager_id", flat=True).first()
    live = Delegation.objects.filter(starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)
    delegate_of = _Lookup(lambda person: live.filter(approver_id=person).order_by("-created_at"), "delegate_id")
    manager_of = _Lookup(lambda person: Profile.objects.filter(user_id=person, manager__isnull=False), "manager_id")
    facts = asked(request)
    found: list[int] = []
    for _ in range(max(request.approvals_needed - len(facts.decided_by), 0)):
        barred = replace(facts, decided_by=facts.decided_by | set(found))
        routed = rules.route(
            start,
            delegate_of=delegate_of,
            manager_of=manager_of,
            eligible=lambda person, barred=barred: rules.may_decide(candidate(person, group_id), barred),
        )
        if routed.person is None:
            break
        found.append(routed.person)
    return found
