"""The estate campaign tests share: four agents of the cast's owner with their entitlements and usage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from identities.runtime.partitions import DECISION_LOG
from tests.factories import (
    AcceptableUseFactory,
    EntitlementFactory,
    IdentityFactory,
    OwnershipFactory,
    PolicyDecisionFactory,
    ToolFactory,
)


@pytest.fixture
def estate(cast):
    """Four agents of the cast's owner (who reports to the cast's manager) with acceptable use for jira.*:
    - `used`: jira.read_issue, allowed in the decision log two days ago → keep;
    - `idle`: jira.read_issue, the log covers jira.read_issue for 89 days but shows no use by it → revoke (unused);
    - `dark`: slack.post, a tool the decision log never saw → no usage data, no recommendation;
    - `outside`: github.push write, outside its acceptable use → revoke."""
    now = timezone.now()
    DECISION_LOG.create(now.date() - timedelta(days=100), 101)  # the log's daily partitions back to then
    jira = ToolFactory(key="jira.read_issue", actions=["read"], data_class="internal")
    slack = ToolFactory(key="slack.post", actions=["write"], data_class="internal")
    github = ToolFactory(key="github.push", actions=["write"], data_class="internal")
    agents = {}
    for name in ("used", "idle", "dark", "outside"):
        agent = IdentityFactory(name=name, is_orphaned=False)
        OwnershipFactory(identity=agent, person=cast.identity_owner, valid_from=now - timedelta(days=400))
        AcceptableUseFactory(identity=agent, allowed_tools=["jira.*", "slack.*"], valid_from=now - timedelta(days=400),
                             approved_at=now - timedelta(days=400))  # fmt: skip
        agents[name] = agent
    ents = {
        "used": EntitlementFactory(identity=agents["used"], tool=jira),
        "idle": EntitlementFactory(identity=agents["idle"], tool=jira),
        "dark": EntitlementFactory(identity=agents["dark"], tool=slack, action="write"),
        "outside": EntitlementFactory(identity=agents["outside"], tool=github, action="write"),
    }
    PolicyDecisionFactory(identity=agents["used"], tool_key="jira.read_issue", decided_at=now - timedelta(days=2))
    # The log has covered jira.read_issue and github.push (someone else's calls) for 89 days.
    other = IdentityFactory()
    PolicyDecisionFactory(identity=other, tool_key="jira.read_issue", decided_at=now - timedelta(days=89))
    PolicyDecisionFactory(identity=other, tool_key="github.push", action="write", decided_at=now - timedelta(days=89))
    return agents, ents
