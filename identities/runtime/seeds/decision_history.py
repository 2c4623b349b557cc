"""The demo's decision-log history: what the gateway answered over the last six weeks, before any action event
exists, so a review campaign over the demo has real usage to read (`reviews.campaign_demo` calls it before it
launches; `seed()` alone is idempotent: seeded once, when no demo identity has a decision yet).

The gateway fronts GitHub, the Jira MCP server and the analytics warehouse, and has answered `decide` for their
read tools since 44 days ago (COVERED): a campaign may recommend revoking those tools' entitlements when an
identity had no allow in N days. It does not front Slack, the orders database, Kubernetes or AWS, so for
those tools there is no usage data at all. Rows are written as the decision log keeps them (append-only, in
their day's partition, a UUIDv7 id carrying their time), because history cannot be asked for again today."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from identities.models import Identity
from identities.runtime.decision_ids import uuid7
from identities.runtime.models import PolicyDecision, PolicyVersion
from identities.runtime.partitions import DECISION_LOG

__all__ = ["COVERED", "COVERED_DAYS", "USES", "seed"]

COVERED = ("github.read_repository", "jira.search_issues", "warehouse.query")
COVERED_DAYS = 44  # the gateway's first decision about each covered tool, this many days ago
# (identity, tool, days ago of each allowed call): recent use keeps access; use only long ago, or none, does not.
USES = (
    ("code-review-agent", "github.read_repository", (1, 2, 6, 13, 27)),
    ("release-captain", "github.read_repository", (3, 10)),
    ("data-pr-author", "github.read_repository", (9,)),
    ("growth-pr-author", "github.read_repository", (40, 43)),  # last used 40 days ago
    ("triage-bot", "jira.search_issues", (0, 1, 2, 4, 8)),
    ("payments-ticket-router", "jira.search_issues", (3, 17)),
    ("support-ticket-router", "jira.search_issues", (6,)),
    ("platform-ticket-router", "jira.search_issues", (41,)),  # last used 41 days ago
    ("growth-sql-analyst", "warehouse.query", (4, 11)),
    ("platform-sql-analyst", "warehouse.query", (2,)),
    ("warehouse-analyst", "warehouse.query", (12, 20)),
    ("support-sql-analyst", "warehouse.query", (39,)),  # last used 39 days ago
)
# Refused calls are no use: the code-review agent asked for another company's repository.
DENIES = (("code-review-agent", "github.read_repository", {"repo": "globex/payroll"}, 5),)
PROBER = "code-review-agent"


def _row(*, at: datetime, identity: Identity | None, tool: str, verdict: str, resource: dict, policy) -> PolicyDecision:
    reasons = ["allow-standing-entitlement"] if verdict == "allow" else ["deny-outside-token-scope"]
    return PolicyDecision(
        uuid=uuid7(at), decided_at=at, gateway=None, identity=identity, tool_key=tool, action="read",
        resource=resource, evaluated={}, policy_version=policy, decision=verdict, reasons=reasons, latency_us=310,
    )  # fmt: skip


def seed(now: datetime | None = None) -> list[str]:
    names = {name for name, _, _ in USES} | {name for name, *_ in DENIES} | {PROBER}
    identities = {i.name: i for i in Identity.objects.filter(name__in=names, status="active")}
    if not identities or PolicyDecision.objects.filter(identity_id__in=[i.pk for i in identities.values()]).exists():
        return []
    now = now or timezone.now()
    DECISION_LOG.create(now.date() - timedelta(days=COVERED_DAYS + 1), COVERED_DAYS + 3)  # the days' partitions
    policy = PolicyVersion.objects.filter(status="active").first()
    rows = []
    first = now - timedelta(days=COVERED_DAYS)
    prober = identities.get(PROBER)
    for tool in COVERED:  # the gateway's first answers: the code-review agent tried each tool when it was connected
        rows.append(_row(at=first, identity=prober, tool=tool, verdict="deny", resource={}, policy=policy))
    for name, tool, days in USES:
        if name in identities:
            for back in days:
                at = now - timedelta(days=back, minutes=37 + 11 * back)
                rows.append(_row(at=at, identity=identities[name], tool=tool, verdict="allow", resource={},
                                 policy=policy))  # fmt: skip
    for name, tool, resource, back in DENIES:
        if name in identities:
            rows.append(_row(at=now - timedelta(days=back, hours=3), identity=identities[name], tool=tool,
                             verdict="deny", resource=resource, policy=policy))  # fmt: skip
    PolicyDecision.objects.bulk_create(rows)
    return [f"Decision log: {len(rows)} gateway decisions over {COVERED_DAYS} days ({', '.join(COVERED)})"]
