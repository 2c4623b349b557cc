"""The agent asking for elevation for itself: /api/v1/runtime/elevation-requests with its workload proof or its
task token, polling with Retry-After, and the call allowed once a manager approved (real database, real keys)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from identities.runtime.models import IssuedToken, TokenRevocation
from reviews import seeds
from reviews.models import ElevationRequest
from tests.runtime_support import ATTACKER_KEY, AUDIENCE, access_token, build_estate, decide, exchange, svid

pytestmark = pytest.mark.django_db
ASK = "/api/v1/runtime/elevation-requests"
WRITE = "github.create_pull_request:write"


@pytest.fixture
def rt(cast):
    estate = build_estate(cast)
    seeds.demo(None)
    return estate


def as_agent(credential: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {credential}"}


def ask(credential: str, **body):
    fields = {"scopes": [WRITE], "justification": "open the fix PR", "duration_seconds": 1800, **body}
    return Client().post(ASK, json.dumps(fields), content_type="application/json", **as_agent(credential))


def poll(credential: str, request_id: str):
    return Client().get(f"{ASK}/{request_id}", **as_agent(credential))


def test_invalid_scope_then_the_agent_asks_with_its_proof_polls_and_is_allowed_after_approval(rt, client_factory):
    refused = exchange(scope=WRITE, task="fix-1")
    assert refused.status_code == 400 and refused.json()["missing_scopes"] == [WRITE]
    task_id = refused.json()["task_id"]
    asked = ask(svid(), task=task_id, urgency="high")
    assert asked.status_code == 201, asked.content
    answer = asked.json()
    assert answer["state"] == "pending" and answer["task"] == task_id and asked["Retry-After"] == "5"
    assert answer["requested_by"] is None and answer["requested_by_identity"] == str(rt.agent.uuid)
    waiting = poll(svid(), answer["id"])
    assert waiting.status_code == 200 and waiting.json()["state"] == "pending" and waiting["Retry-After"] == "5"
    manager = client_factory(rt.cast.manager)
    approved = manager.post(
        f"/api/v1/elevation-requests/{answer['id']}/approve/",
        json.dumps({"comment": "go", "duration_seconds": 900}),
        content_type="application/json",
    )
    assert approved.status_code == 200, approved.content
    done = poll(svid(), answer["id"])
    outcome = done.json()
    assert outcome["state"] == "approved" and "Retry-After" not in done
    assert outcome["decided_by"] == ["cast-manager"] and outcome["granted"]["duration_seconds"] == 900
    token = access_token(scope=WRITE, task="fix-1")["access_token"]
    allowed = decide(rt.credential, token, tool="github.create_pull_request", action="write")
    assert allowed.json()["decision"] == "allow"


def test_with_a_task_token_the_request_is_for_that_task(rt):
    issued = access_token(task="triage-7")
    asked = ask(issued["access_token"])
    assert asked.status_code == 201, asked.content
    assert asked.json()["task"] == issued["task_id"]
    again = ask(issued["access_token"], justification="still needed")
    assert again.status_code == 200 and again.json()["id"] == asked.json()["id"]  # merged
    assert poll(issued["access_token"], asked.json()["id"]).json()["state"] == "pending"


def test_a_proof_needs_a_task_and_bad_input_names_the_field_and_writes_nothing(rt):
    for body, field in (
        ({}, "task"),
        ({"task": "t", "scopes": ["nosuch.tool:write"]}, "scopes"),
        ({"task": "t", "duration_seconds": 0}, "duration_seconds"),
        ({"task": "t", "urgency": "now"}, "urgency"),
        ({"task": "t", "justification": "x" * 2001}, "justification"),
        ({"task": "t", "justification": "a\x00b"}, "justification"),
        ({"task": "t", "scope": {"Bad Name": "x"}}, "scope"),
    ):
        response = ask(svid(), **body)
        assert response.status_code == 400, (body, response.content)
        assert any(name.split(".")[0] == field for name in response.json()["fields"]), (body, response.json())
    assert not ElevationRequest.objects.exists()


def test_only_the_agent_itself_may_ask_and_poll(rt, client_factory):
    mine = ask(svid(), task="fix-2").json()["id"]
    forged = svid(key=ATTACKER_KEY)
    assert ask(forged, task="fix-2").status_code == 401
    assert Client().post(ASK, "{}", content_type="application/json").status_code == 401  # anonymous
    person = client_factory(rt.cast.identity_owner)  # a person's session is not the agent
    assert person.post(ASK, "{}", content_type="application/json").status_code == 401
    assert person.get(f"{ASK}/{mine}").status_code == 401
    other = access_token(subject_token=svid("spiffe://prod.example.com/agent/orchestrator"), task="o-1")
    assert poll(other["access_token"], mine).status_code == 404  # another identity's request
    assert poll(svid(), "00000000-0000-0000-0000-000000000000").status_code == 404
    revoked = access_token(task="triage-9")
    jti = IssuedToken.objects.get(task__name="triage-9").jti
    TokenRevocation.objects.create(jti=jti, reason="test", revoked_at=timezone.now())
    assert poll(revoked["access_token"], mine).status_code == 401


def test_an_agent_may_not_ask_for_a_task_of_another_identity(rt):
    other = access_token(subject_token=svid("spiffe://prod.example.com/agent/orchestrator"), task="o-2")
    response = ask(svid(), task=other["task_id"])
    assert response.status_code == 400 and "task" in response.json()["fields"]
    assert AUDIENCE  # the audience the tokens above were issued for


def test_a_request_past_its_expiry_polls_as_expired_before_and_after_the_sweep(rt):
    from reviews.tasks import expire_requests

    asked = ask(svid(), task="fix-late").json()
    ElevationRequest.objects.filter(uuid=asked["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    unswept = poll(svid(), asked["id"])
    assert unswept.json()["state"] == "expired" and "Retry-After" not in unswept  # the clock, not the job
    assert ElevationRequest.objects.get(uuid=asked["id"]).state == "pending"
    expire_requests()
    swept = poll(svid(), asked["id"])
    assert swept.json()["state"] == "expired" and swept.json()["closed_note"] == "expired unanswered"
    assert "Retry-After" not in swept
