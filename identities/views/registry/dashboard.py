"""The registry's dashboard panel: identities by risk tier, and how many are orphaned, flagged or suspended —
counted over what the reader may see, in one query."""

from __future__ import annotations

from django.db.models import Count, Q

from identities.models import IdentityStatus, RiskTier
from identities.models.registry import Identity

TIER_ORDER = [RiskTier.CRITICAL, RiskTier.HIGH, RiskTier.MEDIUM, RiskTier.LOW]


def registry_panel(request) -> dict:
    rows = (
        Identity.objects.restrict(request.user, "view")
        .order_by()
        .values("risk_tier")
        .annotate(
            n=Count("pk"),
            orphaned=Count("pk", filter=Q(is_orphaned=True)),
            flagged=Count("pk", filter=~Q(flags=[])),
            suspended=Count("pk", filter=Q(status=IdentityStatus.SUSPENDED)),
        )
    )
    by_tier = {tier: 0 for tier in TIER_ORDER}
    totals = {"orphaned": 0, "flagged": 0, "suspended": 0}
    for row in rows:
        by_tier[row["risk_tier"]] = row["n"]
        for key in totals:
            totals[key] += row[key]
    total = sum(by_tier.values())
    labels = dict(RiskTier.choices)
    return {
        "total": total,
        "by_tier": [(tier.value, labels[tier], by_tier[tier]) for tier in TIER_ORDER],
        **totals,
    }
