"""The default approval rules, found by `agentiam.seeding` (`manage.py seed_demo`); idempotent: a rule that
exists by name is left as an administrator may have changed it.

Lowest priority number first; a request of several scopes takes the strictest rule of its scopes:
- low-risk read is approved at once, recorded, for at most 30 minutes;
- production-secret tools and critical identities need two distinct approvers;
- high identities one approver, at least an hour (the issue's floor for high on a high-sensitivity tool);
- medium and low identities' write, admin and execute one approver.

Then, once, elevation requests across the demo agents, written through the services (so the trail and the
notifications tell their story): pending ones of each urgency (one needing two approvers, Maya and her manager
Elena), approved (one for less than asked), denied and expired-unanswered ones, and one open break-glass —
so a manager signing in first sees a real inbox and the insight has figures. Their ages are moved back while
pending, for realistic times.

Last, once, the quarterly agent-access review with a run in progress (reviews.campaign_demo)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict
from audit import actors
from audit.trail import audit_record
from identities.models import Identity, IdentityKind, IdentityStatus, OwnershipRole, current_ownerships
from identities.seeds.estate import DEMO_PREFIX
from reviews import campaign_demo, services
from reviews.models import ApprovalRule, ElevationRequest

__all__ = ["DEFAULT_RULES", "ORDER", "demo"]

ORDER = 30  # after identities (10) and agentiam (20)

HOUR = 3600
DEFAULT_RULES = (
    {"name": "Production secrets: two approvers", "priority": 10, "production_secrets": True,
     "approvals_needed": 2, "eligible_approvals": 1, "max_duration_seconds": HOUR},
    {"name": "Critical identity: two approvers", "priority": 20, "risk_tier": "critical",
     "approvals_needed": 2, "eligible_approvals": 1, "max_duration_seconds": HOUR // 2},
    {"name": "Low-risk read: approved at once", "priority": 30, "risk_tier": "low", "tool_sensitivity": "low",
     "action": "read", "auto_approve": True, "approvals_needed": 0, "max_duration_seconds": HOUR // 2},
    {"name": "High identity: one approver", "priority": 40, "risk_tier": "high",
     "approvals_needed": 1, "max_duration_seconds": 4 * HOUR},
    {"name": "Medium and low identities: one approver", "priority": 50,
     "approvals_needed": 1, "max_duration_seconds": 8 * HOUR},
)  # fmt: skip


@transaction.atomic
def demo(out) -> list[str]:
    created = []
    for fields in DEFAULT_RULES:
        rule, made = ApprovalRule.objects.get_or_create(name=fields["name"], defaults=fields)
        if made:
            created.append(rule)
            audit_record(
                actor=actors.job("manage.py seed_demo"), action="approval_rule.create", target=rule, changes=fields
            )
    lines = [f"approval rules: {len(created)} default(s) created"] if created else []
    return lines + _requests() + campaign_demo.seed()


# (end, scope asked, task, urgency, justification, minutes since asked, approved duration or None)
DEMO_REQUESTS = (
    ("pending", "github.merge_pull_request:write", "CHG-2210 hotfix release", "high",
     "Payments hotfix must merge before the 16:00 freeze", 8, None),
    ("pending", "github.create_pull_request:write", "DEP-77 bump dependencies", "normal",
     "Weekly dependency update PRs", 25, None),
    ("pending", "jira.create_issue:write", "OPS-31 file follow-ups", "low", "File follow-up tickets from the retro", 50,
     None),
    ("pending", "slack.post_message:write", "INC-4830 status updates", "high", "Post incident status to #status", 3,
     None),
    ("approved", "github.create_pull_request:write", "DOC-12 refresh docs", "normal", "Open PRs for the docs refresh",
     14, 3600),
    ("approved", "jira.create_issue:write", "SUP-480 triage backlog", "normal", "Create tickets from the inbox", 42,
     1800),
    ("approved", "slack.post_message:write", "REL-93 release notes", "low", "Post the release notes", 190, 3600),
    ("denied", "github.merge_pull_request:write", "EXP-5 merge own PRs", "low", "Merge its own PRs without review", 75,
     None),
    ("expired", "github.create_pull_request:write", "LINT-8 autofix", "low", "Apply lint autofixes", 30 * 60, None),
)  # fmt: skip


def _agents() -> list[tuple[Identity, object]]:
    """Demo agents that may ask (active, owned, acceptable use in force), with their accountable owner, the
    highest risk tier first so the two-approver request lands on the most critical one."""
    from reviews.services.facts import current_aup

    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    found = []
    agents = Identity.objects.filter(
        external_id__startswith=DEMO_PREFIX, kind=IdentityKind.AGENT, status=IdentityStatus.ACTIVE
    )
    for agent in agents.order_by("name"):
        owner = current_ownerships().filter(identity=agent, role=OwnershipRole.ACCOUNTABLE).first()
        if owner is None or not owner.person.is_active or current_aup(agent) is None:
            continue
        found.append((agent, owner.person))
    return sorted(found, key=lambda pair: (order.get(pair[0].risk_tier, 9), pair[1].username != "owner"))


def _two_approver(now):
    """release-captain asks to rotate a production secret (its acceptable use widened for it, by its owner):
    the production-secrets rule asks two approvers — Maya, then her manager Elena."""
    from identities import services as registry
    from reviews.services.facts import current_aup

    agent = Identity.objects.filter(external_id=f"{DEMO_PREFIX}release-captain", status=IdentityStatus.ACTIVE).first()
    owner = agent and current_ownerships().filter(identity=agent, role=OwnershipRole.ACCOUNTABLE).first()
    aup = agent and current_aup(agent)
    if owner is None or aup is None:
        return None
    try:
        with transaction.atomic():
            registry.aup_add_version(
                identity=agent, actor=owner.person, purpose=aup.purpose,
                allowed_tools=sorted({*aup.allowed_tools, "github.*"}),
                data_classes=sorted({*aup.data_classes, "restricted"}) if aup.data_classes else [],
                prohibited_actions=aup.prohibited_actions,
                human_in_the_loop="Two approvers for any production secret.",
            )  # fmt: skip
            asked = services.request_create(
                identity=agent, task="SEC-402 rotate the deploy secret", scopes=["github.manage_secrets:write"],
                justification="Rotate the leaked deploy token in Actions secrets", duration_seconds=1800,
                urgency="high", actor=owner.person,
            )  # fmt: skip
            ElevationRequest.objects.filter(pk=asked.pk).update(created_at=now - timedelta(minutes=12))
            return asked
    except (ValidationError, PermissionDenied, Conflict):
        return None


def _requests() -> list[str]:
    if ElevationRequest.objects.filter(identity__external_id__startswith=DEMO_PREFIX).exists():
        return []  # seeded once: never added to or reset
    manager = get_user_model().objects.filter(username="manager").first()
    agents = _agents()
    if manager is None or not agents:
        return []
    made, now, n = [], timezone.now(), 0
    for end, scope, task, urgency, why, minutes, granted in DEMO_REQUESTS:
        for attempt in range(len(agents)):  # the first agent for which the services accept this request
            agent, owner = agents[(n + attempt) % len(agents)]
            try:
                with transaction.atomic():
                    asked = services.request_create(
                        identity=agent, task=task, scopes=[scope], justification=why, duration_seconds=3600,
                        urgency=urgency, actor=owner,
                    )  # fmt: skip
                    if asked.state != "pending":
                        raise ValueError("approved at once by a rule: try another agent")
                    back = now - timedelta(minutes=minutes)
                    ElevationRequest.objects.filter(pk=asked.pk).update(
                        created_at=back, expires_at=max(asked.expires_at - (now - back), now - timedelta(hours=1))
                        if end == "expired" else asked.expires_at,
                    )  # fmt: skip
                    if end == "approved":
                        services.request_approve(
                            elevation_request=asked, actor=manager, comment="OK for this task",
                            duration_seconds=min(granted, asked.duration_seconds),
                        )  # fmt: skip
                        asked.refresh_from_db()
                        if asked.state != "approved":
                            raise ValueError("needs a second approver: try another agent")
                    elif end == "denied":
                        services.request_deny(elevation_request=asked, actor=manager, comment="Merging needs review")
            except (ValidationError, PermissionDenied, Conflict, ValueError):  # refused here: try the next agent
                continue
            made.append(asked)
            n += attempt + 1
            break
    two = _two_approver(now)
    if two is not None:
        made.append(two)
    services.requests_expire(now=now)
    glass = _break_glass(agents)
    states = sorted(ElevationRequest.objects.filter(pk__in=[r.pk for r in made]).values_list("state", flat=True))
    summary = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
    return ([f"Elevation requests: {summary}"] if made else []) + glass


def _break_glass(agents) -> list[str]:
    """One open break-glass: Oliver's agent reverting a bad merge during an incident, awaiting its review."""
    from reviews.services.breakglass import break_glass_start

    for agent, owner in agents:
        if owner.username != "owner":
            continue
        try:
            with transaction.atomic():
                break_glass_start(
                    identity=agent, actor=owner, scopes=["github.create_pull_request:write"],
                    reason="INC-4833: revert the bad merge while the approvers are offline",
                    task="INC-4833 emergency revert", duration_seconds=1800,
                )  # fmt: skip
            return ["Break-glass: 1 open, awaiting its after-the-fact review"]
        except (ValidationError, PermissionDenied, Conflict):
            continue
    return []
