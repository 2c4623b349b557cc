"""Policies as code, governed: drafts, validation, diff, simulation over the decision log, activation.

Administrators write drafts; activation needs validation to pass and a SECOND administrator (nobody
activates their own change). Activating retires the previous active version in the same transaction;
workers pick the new version up on their next request (the evaluator compares version ids).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agentiam import jsonsafe
from agentiam.errors import Conflict, invalid
from agentiam.permissions import Role, roles_of
from audit.models import AuditEntry
from audit.trail import audit_record
from identities.runtime.models import PolicyDecision, PolicyStatus, PolicyVersion
from identities.runtime.policy import SYSTEM_REASONS, RecordedDecision, explanations, replay, validate
from identities.runtime.policy.limits import PolicyTooComplex, check_policy_shape

ERR_ADMIN_ONLY = "Only an administrator may change policy versions."
ERR_NOT_DRAFT = "Only a draft can be changed or activated; this version is {status}."
ERR_OWN_CHANGE = (
    "Nobody activates a draft they wrote or edited: a second administrator, who did neither, must activate it."
)
ERR_DIGEST_MISSING = "Name the digest of the text you reviewed (shown with the draft) to activate it."
ERR_DIGEST_CHANGED = "The draft changed after it was reviewed (reviewed {given}, now {current}): review it again."
# The audit actions that change a draft's text: their actors may not activate it.
EDITING_ACTIONS = ("policy.draft_create", "policy.draft_update")
ERR_INVALID = "This draft does not pass validation, so it cannot be activated."
ERR_TEST_CASES_JSON = "The test cases must be a JSON list: {error}."
ERR_POLICY_EMPTY = "Write the policy text (Cedar)."
ERR_DAYS = "Simulate over 1 to 90 days of recorded decisions."
ERR_UNPARSABLE = "The policy text does not parse; fix the draft before simulating."
SIMULATION_LIMIT = 5000  # newest decisions replayed; keeps a simulation to a few seconds


def _require_admin(actor) -> None:
    if Role.ADMINISTRATOR not in roles_of(actor):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def parse_test_cases(text: str) -> list[Any]:
    try:
        cases = jsonsafe.loads(text or "[]", what="The test cases")
    except ValueError as error:
        raise invalid("test_cases", ERR_TEST_CASES_JSON.format(error=error)) from None
    if not isinstance(cases, list):
        raise invalid("test_cases", ERR_TEST_CASES_JSON.format(error="not a list"))
    return cases


def policy_validate(*, version: PolicyVersion) -> list[str]:
    """Every reason the version may not be activated (empty: it may). Stores nothing."""
    return validate(version.policy_text, version.schema_text, version.test_cases)


@transaction.atomic
def policy_draft_create(*, actor, parent: PolicyVersion, summary: str = "", request=None) -> PolicyVersion:
    _require_admin(actor)
    # The number is the next in sequence; the unique constraint settles a race between two authors.
    number = (PolicyVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    draft = PolicyVersion.objects.create(
        number=number,
        status=PolicyStatus.DRAFT,
        summary=summary.strip()[:300] or f"Draft from version {parent.number}",
        policy_text=parent.policy_text,
        schema_text=parent.schema_text,
        test_cases=parent.test_cases,
        parent=parent,
        author=actor,
    )
    audit_record(actor=actor, action="policy.draft_create", target=draft, request=request,
                 changes={"number": number, "parent": parent.number})  # fmt: skip
    return draft


@transaction.atomic
def policy_draft_update(
    *, actor, version: PolicyVersion, policy_text: str, test_cases: list[Any], summary: str = "", request=None
) -> PolicyVersion:
    _require_admin(actor)
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != PolicyStatus.DRAFT:
        raise Conflict(ERR_NOT_DRAFT.format(status=version.get_status_display().lower()))
    if not policy_text.strip():
        raise invalid("policy_text", ERR_POLICY_EMPTY)
    try:  # stored, it would kill every worker that renders, validates or simulates it
        check_policy_shape(policy_text)
    except PolicyTooComplex as error:
        raise invalid("policy_text", str(error)) from None
    changed = [
        name
        for name, value in (("policy_text", policy_text), ("test_cases", test_cases), ("summary", summary))
        if getattr(version, name) != value
    ]
    version.policy_text, version.test_cases = policy_text, test_cases
    version.summary = summary.strip()[:300] or version.summary
    version.save(update_fields=["policy_text", "test_cases", "summary"])
    audit_record(actor=actor, action="policy.draft_update", target=version, request=request,
                 changes={"fields": changed})  # fmt: skip
    return version


def policy_digest(version: PolicyVersion) -> str:
    """SHA-256 of exactly what a reviewer reads and activation makes active: text, schema and test cases."""
    canonical = json.dumps(
        [version.policy_text, version.schema_text, version.test_cases], sort_keys=True, separators=(",", ":")
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def policy_editors(version: PolicyVersion) -> set[int]:
    """Everyone who wrote or edited the draft: its author and the actors of its drafting entries in the trail."""
    entries = AuditEntry.objects.filter(
        object_type=PolicyVersion._meta.label_lower, object_id=str(version.uuid), action__in=EDITING_ACTIONS
    )
    editors = {actor for actor in entries.values_list("actor_id", flat=True) if actor is not None}
    return editors | ({version.author_id} if version.author_id else set())


@transaction.atomic
def policy_activate(*, actor, version: PolicyVersion, digest: str = "", request=None) -> PolicyVersion:
    """Make the draft the active version: four eyes — nobody who wrote or edited it — on exactly the text
    reviewed (`digest`, from policy_digest; a change since is a conflict). Step-up is the view's."""
    _require_admin(actor)
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != PolicyStatus.DRAFT:
        raise Conflict(ERR_NOT_DRAFT.format(status=version.get_status_display().lower()))
    if actor.pk in policy_editors(version):
        raise PermissionDenied(ERR_OWN_CHANGE)
    if not isinstance(digest, str) or not digest.strip():
        raise invalid("digest", ERR_DIGEST_MISSING)
    current = policy_digest(version)
    if digest.strip() != current:
        raise Conflict(ERR_DIGEST_CHANGED.format(given=digest.strip()[:80], current=current))
    errors = policy_validate(version=version)
    if errors:
        raise ValidationError({"policy_text": [ERR_INVALID, *errors]})
    now = timezone.now()
    previous = PolicyVersion.objects.select_for_update().filter(status=PolicyStatus.ACTIVE).first()
    if previous is not None:
        previous.status, previous.retired_at = PolicyStatus.RETIRED, now
        previous.save(update_fields=["status", "retired_at"])
    version.status, version.activated_by, version.activated_at = PolicyStatus.ACTIVE, actor, now
    version.save(update_fields=["status", "activated_by", "activated_at"])
    audit_record(actor=actor, action="policy.activate", target=version, request=request,
                 changes={"number": version.number, "retired": previous.number if previous else None,
                          "digest": current})  # fmt: skip
    return version


def policy_diff(*, version: PolicyVersion, against: PolicyVersion | None) -> dict[str, list[str]]:
    """Unified diffs (lines) of the policy text and of the test cases, from `against` to `version`."""

    def lines(text: str) -> list[str]:
        return text.splitlines()

    def cases(row: PolicyVersion | None) -> list[str]:
        return lines(json.dumps(row.test_cases, indent=2, sort_keys=True)) if row else []

    old_name = f"v{against.number}" if against else "(nothing)"
    new_name = f"v{version.number}"
    return {
        "policy": list(difflib.unified_diff(lines(against.policy_text) if against else [], lines(version.policy_text),
                                            old_name, new_name, lineterm="")),
        "test_cases": list(difflib.unified_diff(cases(against), cases(version), old_name, new_name, lineterm="")),
    }  # fmt: skip


@dataclass(frozen=True)
class SimulatedFlip:
    decision: PolicyDecision
    now_allow: bool
    reasons: list[str]
    errors: list[str]
    explained: list[tuple[str, str]]

    @property
    def was_allow(self) -> bool:
        return self.decision.decision == "allow"


@dataclass(frozen=True)
class Simulation:
    days: int
    replayed: int
    limited: bool
    flips: list[SimulatedFlip]


def policy_simulate(*, version: PolicyVersion, days: int = 7, limit: int = SIMULATION_LIMIT) -> Simulation:
    """Replay the last `days` of recorded decisions (as stored, newest first, at most `limit`) against the
    version and list exactly the calls whose decision would flip."""
    if not 1 <= days <= 90:
        raise invalid("days", ERR_DAYS)
    try:
        rules = {**explanations(version.policy_text), **SYSTEM_REASONS}
    except PolicyTooComplex as error:
        raise invalid("policy_text", str(error)) from None
    except ValueError:
        raise invalid("policy_text", ERR_UNPARSABLE) from None
    since = timezone.now() - timedelta(days=days)
    rows = list(
        PolicyDecision.objects.filter(decided_at__gte=since)
        .exclude(evaluated={})
        .select_related("identity")
        .order_by("-decided_at", "-id")[: limit + 1]
    )
    limited = len(rows) > limit
    rows = rows[:limit]
    by_id = {str(row.id): row for row in rows}
    records = [RecordedDecision(str(row.id), row.evaluated, row.decision == "allow") for row in rows]
    flips = replay(records, version.policy_text, version.schema_text)
    return Simulation(days, len(rows), limited, [
        SimulatedFlip(by_id[f.id], f.now_allow, f.reasons, f.errors, [(r, rules.get(r, "")) for r in f.reasons])
        for f in flips
    ])  # fmt: skip


__all__ = [
    "ERR_ADMIN_ONLY",
    "ERR_DAYS",
    "ERR_DIGEST_CHANGED",
    "ERR_DIGEST_MISSING",
    "ERR_INVALID",
    "ERR_NOT_DRAFT",
    "ERR_OWN_CHANGE",
    "ERR_POLICY_EMPTY",
    "ERR_TEST_CASES_JSON",
    "ERR_UNPARSABLE",
    "SIMULATION_LIMIT",
    "Simulation",
    "parse_test_cases",
    "policy_activate",
    "policy_diff",
    "policy_digest",
    "policy_draft_create",
    "policy_draft_update",
    "policy_editors",
    "policy_simulate",
    "policy_validate",
]
