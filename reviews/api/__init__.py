"""reviews' REST endpoints under /api/v1/, registered on the shared router when agentiam.api.urls
autodiscovers this package: elevation requests (`requests`); approval rules, their changes and delegations
(`rules`); campaign definitions and runs (`campaigns`). The agent's own path (its proof or task
token, /api/v1/runtime/elevation-requests) is `runtime`, routed from agentiam/urls.py."""

from agentiam.api.routers import router

from .campaigns import CampaignRunViewSet, CampaignViewSet
from .items import ReviewItemViewSet
from .requests import ElevationRequestViewSet
from .rules import ApprovalRuleChangeViewSet, ApprovalRuleViewSet, DelegationViewSet

__all__ = [
    "RESOURCES",
    "ApprovalRuleChangeViewSet",
    "ApprovalRuleViewSet",
    "CampaignRunViewSet",
    "CampaignViewSet",
    "DelegationViewSet",
    "ElevationRequestViewSet",
    "ReviewItemViewSet",
]

RESOURCES = [
    ("elevation-requests", ElevationRequestViewSet, "elevation-request"),
    ("approval-rules", ApprovalRuleViewSet, "approval-rule"),
    ("approval-rule-changes", ApprovalRuleChangeViewSet, "approval-rule-change"),
    ("delegations", DelegationViewSet, "delegation"),
    ("review-items", ReviewItemViewSet, "review-item"),
    ("campaigns", CampaignViewSet, "campaign"),
    ("campaign-runs", CampaignRunViewSet, "campaign-run"),
]

for prefix, viewset, basename in RESOURCES:
    if not any(registered[0] == prefix for registered in router.registry):
        router.register(prefix, viewset, basename=basename)
