"""An approved elevation's grant ends by the clock of each decision, not by a job: past its end the next
decision is deny and introspection says inactive while nothing in the database says it ended (no sweep ran:
none is needed); completing the task ends the grant and its token at once (real database, real keys)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from identities.models import Entitlement, Grant, Task
from identities.runtime.models import TokenRevocation
from identities.runtime.services import decide as decide_service
from reviews import seeds
from reviews.models import ElevationRequest
from tests.runtime_support import access_token, build_estate, decide, exchange, introspect, svid

pytestmark = pytest.mark.django_db
WRITE = "github.create_pull_request:write"


@pytest.fixture
def rt(cast):
    estate = build_estate(cast)
    seeds.demo(None)
    return estate


def approved_token(rt, client_factory, task: str) -> tuple[Grant, str]:
    """The agent meets invalid_scope, asks for itself, the owner's manager approves 15 minutes, it exchanges."""
    task_id = exchange(scope=WRITE, task=task).json()["task_id"]
    asked = client_factory(None).post(
        "/api/v1/runtime/elevation-requests",
        json.dumps({"scopes": [WRITE], "justification": "open the fix PR", "duration_seconds": 1800, "task": task_id}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {svid()}",
    )
    assert asked.status_code == 201, asked.content
    approved = client_factory(rt.cast.manager).post(
        f"/api/v1/elevation-requests/{asked.json()['id']}/approve/",
        json.dumps({"comment": "go", "duration_seconds": 900}),
        content_type="application/json",
    )
    assert approved.status_code == 200, approved.content
    grant = ElevationRequest.objects.get(uuid=asked.json()["id"]).grant
    return grant, access_token(scope=WRITE, task=task)["access_token"]


def call(rt, token: str) -> dict:
    return decide(rt.credential, token, tool="github.create_pull_request", action="write").json()


def test_past_the_grants_end_the_next_decision_is_deny_and_introspection_inactive_with_no_job(
    rt, client_factory, monkeypatch
):
    grant, token = approved_token(rt, client_factory, "fix-clock")
    assert call(rt, token)["decision"] == "allow"
    assert introspect(rt.credential, token).json()["active"] is True
    later = grant.ends_at + timedelta(seconds=1)
    monkeypatch.setattr(decide_service.timezone, "now", lambda: later)
    assert call(rt, token)["decision"] == "deny"
    assert introspect(rt.credential, token).json() == {"active": False}
    grant.refresh_from_db()  # nothing ended it: the clock of the decision did
    assert grant.ended_at is None and not TokenRevocation.objects.exists()
    assert Entitlement.objects.filter(grant=grant, revoked_at__isnull=True).count() == 1


def test_completing_the_task_ends_the_approved_grant_and_its_token_at_once(rt, client_factory):
    grant, token = approved_token(rt, client_factory, "fix-done")
    completed = client_factory(None).post(
        f"/api/v1/runtime/tasks/{grant.task.uuid}/complete", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert completed.status_code == 200, completed.content
    assert completed.json()["grants_ended"] == 1
    grant.refresh_from_db()
    assert grant.ended_at is not None and Task.objects.get(pk=grant.task_id).state == "completed"
    assert not Entitlement.objects.filter(grant=grant, revoked_at__isnull=True).exists()
    assert call(rt, token)["decision"] == "deny"
    assert introspect(rt.credential, token).json() == {"active": False}
