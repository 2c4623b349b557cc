"""Fixtures the reviews tests share: an agent its owner registered, with acceptable use for GitHub tools, the
default approval rules, and the owner's manager (cast.manager) as the approver requests route to."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agentiam.permissions import Role
from identities import services
from identities.models import Identity, Profile
from reviews import seeds
from tests.cast import make_person
from tests.factories import ToolFactory


@dataclass
class Estate:
    cast: object
    agent: Identity
    write: object  # github.create_pull_request (write), medium sensitivity
    read: object  # github.read_repo (read), low sensitivity
    boss: object  # cast.manager's manager


@pytest.fixture
def estate(cast):
    agent = services.identity_create(
        actor=cast.identity_owner, kind="agent", name="triage-bot", environment="dev", exposure="internal"
    )
    services.aup_add_version(
        identity=agent, actor=cast.identity_owner, purpose="Triage issues", allowed_tools=["github.*"], data_classes=[]
    )
    Identity.objects.filter(pk=agent.pk).update(risk_tier="medium")
    write = ToolFactory(key="github.create_pull_request", actions=["read", "write"], sensitivity="medium")
    read = ToolFactory(key="github.read_repo", actions=["read"], sensitivity="low")
    boss = make_person("cast-boss", Role.MANAGER, employee_id="C-boss")
    Profile.objects.filter(user=cast.manager).update(manager=boss)
    seeds.demo(None)
    agent.refresh_from_db()
    return Estate(cast, agent, write, read, boss)


from tests.reviews.attest_support import attest  # noqa: E402, F401  (the attestation tests' run and items)
