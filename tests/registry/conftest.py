"""Fixtures the registry's tests share: an agent its owner registered, a tool, another identity owner."""

from __future__ import annotations

import pytest

from agentiam.permissions import Role
from identities import services
from tests.cast import make_person
from tests.factories import ToolFactory


@pytest.fixture
def agent(cast):
    return services.identity_create(
        actor=cast.identity_owner, kind="agent", name="triage-bot", environment="dev", exposure="internal"
    )


@pytest.fixture
def tool(db):
    return ToolFactory(key="github.create_pull_request", actions=["read", "write", "admin", "execute"])


@pytest.fixture
def other_owner(db):
    return make_person("other-owner", Role.IDENTITY_OWNER, first_name="Olga", last_name="Other")
