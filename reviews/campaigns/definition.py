"""A campaign's definition frozen as JSON (what a run keeps, so editing the definition never changes a running
campaign), and the facts a launch fixes beside it: which tools the decision log covers since when, which
acceptable-use patterns match which tools (identities.scope.glob_match, the one matching function), and the
fallback group's members."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Min

from identities.models import Tool
from identities.runtime.models import PolicyDecision
from identities.scope import glob_match
from reviews.models_campaigns import Campaign

__all__ = ["Facts", "facts_at", "freeze", "lookback_days", "unused_days_of"]


def unused_days_of(definition: dict) -> int:
    """The N of "unused for N days": the campaign's, else REVIEWS_CAMPAIGN_UNUSED_DAYS."""
    return definition["scope"].get("unused_days") or settings.REVIEWS_CAMPAIGN_UNUSED_DAYS


def lookback_days(definition: dict) -> int:
    """How far back the decision log is read: all it keeps, and at least N days. A tool counts as covered for
    "unused for N days" only when the log holds a decision about it from N days ago or earlier."""
    return max(unused_days_of(definition), settings.RUNTIME_DECISION_RETENTION_DAYS) + 1


def freeze(campaign: Campaign) -> dict:
    """The whole definition as plain JSON, with ids for the SQL and names for a reader."""
    systems = list(campaign.systems.order_by("pk").values_list("pk", "uuid", "name"))
    tools = list(campaign.tools.order_by("pk").values_list("pk", "uuid", "key"))
    owners = list(campaign.owners.order_by("pk").values_list("pk", "username"))
    stages = list(
        campaign.stages.order_by("number").values(
            "number", "name", "reviewer_rule", "selects", "duration_days", "no_answer_outcome"
        )
    )
    group = campaign.fallback_group
    return {
        "campaign": str(campaign.uuid),
        "name": campaign.name,
        "description": campaign.description,
        "scope": {
            "identity_kinds": sorted(campaign.identity_kinds),
            "risk_tiers": sorted(campaign.risk_tiers),
            "environments": sorted(campaign.environments),
            "sensitivities": sorted(campaign.sensitivities),
            "actions": sorted(campaign.actions),
            "systems": [pk for pk, _, _ in systems],
            "system_names": [{"id": str(u), "name": n} for _, u, n in systems],
            "tools": [pk for pk, _, _ in tools],
            "tool_keys": [{"id": str(u), "key": k} for _, u, k in tools],
            "owners": [pk for pk, _ in owners],
            "owner_usernames": [name for _, name in owners],
            "standing_only": campaign.standing_only,
            "unused_days": campaign.unused_days,
            "outside_acceptable_use": campaign.outside_acceptable_use,
            "include_entitlements": campaign.include_entitlements,
            "privileged_roles": sorted(campaign.privileged_roles),
        },
        "reviewer_rule": campaign.reviewer_rule,
        "fallback_group": group.pk if group else None,
        "fallback_group_name": group.name if group else "",
        "independent_reviewer": campaign.independent_reviewer,
        "stages": stages,
        "reminder_days": sorted(campaign.reminder_days, reverse=True),
        "escalate_after_days": campaign.escalate_after_days,
        "comment_required": campaign.comment_required,
        "recurrence": campaign.recurrence,
        "cron": campaign.cron,
        "timezone": campaign.timezone,
    }


class Facts:
    """What a launch (or a preview) fixes at `at` besides the definition, as arrays the SQL takes."""

    def __init__(self, definition: dict, at: datetime, coverage: dict[str, str], matches: dict[int, list[str]],
                 fallback: list[int]):  # fmt: skip
        self.definition, self.at = definition, at
        self.coverage = coverage  # tool key → ISO time of its first decision in the window
        self.matches = matches  # tool id → the acceptable-use patterns that match its key
        self.fallback = fallback  # active members of the fallback group, by id

    def params(self) -> dict:
        scope = self.definition["scope"]
        days = unused_days_of(self.definition)
        pairs = [(tool, pattern) for tool, patterns in sorted(self.matches.items()) for pattern in patterns]
        return {
            "at": self.at,
            "since": self.at - timedelta(days=lookback_days(self.definition)),
            "unused_before": self.at - timedelta(days=days),
            "unused_days": days,
            "kinds": scope["identity_kinds"],
            "tiers": scope["risk_tiers"],
            "environments": scope["environments"],
            "sensitivities": scope["sensitivities"],
            "actions": scope["actions"],
            "systems": scope["systems"],
            "tools": scope["tools"],
            "owners": scope["owners"],
            "standing_only": scope["standing_only"],
            "roles": scope["privileged_roles"] if scope["privileged_roles"] else [],
            "include_entitlements": scope["include_entitlements"],
            "independent": self.definition["independent_reviewer"],
            "rule": self.definition["reviewer_rule"],
            "fallback": self.fallback,
            "covered_keys": list(self.coverage),
            "covered_since": [datetime.fromisoformat(value) for value in self.coverage.values()],
            "match_tools": [tool for tool, _ in pairs],
            "match_patterns": [pattern for _, pattern in pairs],
        }


def facts_at(definition: dict, at: datetime) -> Facts:
    """Coverage of the decision log over the usage window, pattern matches, the fallback group's members."""
    days = lookback_days(definition)
    rows = (
        PolicyDecision.objects.filter(decided_at__gt=at - timedelta(days=days), decided_at__lte=at)
        .values("tool_key")
        .annotate(first=Min("decided_at"))
        .order_by("tool_key")
    )
    coverage = {row["tool_key"]: row["first"].isoformat() for row in rows}
    patterns = _patterns(at)
    matches: dict[int, list[str]] = {}
    for tool_id, key in Tool.objects.values_list("pk", "key").iterator():
        found = [pattern for pattern in patterns if glob_match(pattern, key)]
        if found:
            matches[tool_id] = found
    fallback: list[int] = []
    if definition.get("fallback_group"):
        fallback = list(
            get_user_model()
            .objects.filter(groups=definition["fallback_group"], is_active=True, profile__status="active")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return Facts(definition, at, coverage, matches, fallback)


def _patterns(at: datetime) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT unnest(allowed_tools) FROM identities_acceptableuse WHERE valid_from <= %s ORDER BY 1",
            [at],
        )
        return [pattern for (pattern,) in cursor.fetchall()]
