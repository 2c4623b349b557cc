"""The default approval rules, found by `agentiam.seeding` (`manage.py seed_demo`); idempotent: a rule that
exists by name is left as an administrator may have changed it.

Lowest priority number first; a request of several scopes takes the strictest rule of its scopes:
- low-risk read is approved at once, recorded, for at most 30 minutes;
- production-secret tools and critical identities need two distinct approvers;
- high identities one approver, at least an hour (the issue's floor for high on a high-sensitivity tool);
- medium and low identities' write, admin and execute one approver."""

from __future__ import annotations

from django.db import transaction

from audit import actors
from audit.trail import audit_record
from reviews.models import ApprovalRule

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
    return [f"approval rules: {len(created)} default(s) created"] if created else []
