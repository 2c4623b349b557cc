"""Introspection (RFC 7662) for gateways, and task completion by the task's agent, its owner or an analyst."""

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.test import Client

from audit.models import AuditEntry
from identities import services as registry
from identities.models import Entitlement, Grant, Task
from identities.runtime import services as runtime
from identities.runtime.models import TokenRevocation
from identities.runtime.services import decide as decide_service
from identities.services.tasks import _task_complete
from tests.cast import make_person
from tests.runtime_support import ACTOR_SPIFFE_ID, access_token, decide, introspect, svid

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(estate):
    return access_token()


def test_an_active_token_is_described_to_a_gateway_of_its_audience(estate, issued):
    response = introspect(estate.credential, issued["access_token"])
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert {k: body[k] for k in ("sub", "aud", "scope", "jti", "exp", "task_id")} == {
        k: claims[k] for k in ("sub", "aud", "scope", "jti", "exp", "task_id")
    }


def test_introspection_needs_a_gateway(estate, issued):
    assert introspect(None, issued["access_token"]).status_code == 401
    assert introspect("aiamgw_000000000000_" + "x" * 43, issued["access_token"]).status_code == 401


def test_another_gateway_learns_nothing_about_the_token(estate, issued):
    assert introspect(estate.other_credential, issued["access_token"]).json() == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_an_unknown_token_is_inactive(estate, token):
    assert introspect(estate.credential, token).json() == {"active": False}


def test_a_completed_tasks_token_is_inactive(estate, issued):
    task = Task.objects.get(uuid=issued["task_id"])
    _task_complete(task=task)  # even without the runtime's revocations, the task state is read
    assert introspect(estate.credential, issued["access_token"]).json() == {"active": False}


def test_a_suspended_identitys_token_is_inactive(estate, issued):
    runtime.identity_suspend(identity=estate.agent, actor=estate.cast.security_analyst, reason="kill switch")
    assert introspect(estate.credential, issued["access_token"]).json() == {"active": False}


def test_an_expired_token_is_inactive(estate, issued, monkeypatch):
    exp = jwt.decode(issued["access_token"], options={"verify_signature": False})["exp"]
    monkeypatch.setattr(decide_service.timezone, "now", lambda: datetime.fromtimestamp(exp, tz=UTC))
    assert introspect(estate.credential, issued["access_token"]).json() == {"active": False}


def test_a_token_field_is_required(estate):
    response = Client().post(
        "/api/v1/runtime/introspect", json.dumps({}), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {estate.credential}",
    )  # fmt: skip
    assert response.status_code == 400 and "token" in response.json()["fields"]


# --- task completion --------------------------------------------------------------------------------------


def complete_url(task_id) -> str:
    return f"/api/v1/runtime/tasks/{task_id}/complete"


def test_the_agent_completes_its_task_with_its_token_and_every_token_and_grant_ends_at_once(estate, issued):
    task = Task.objects.get(uuid=issued["task_id"])
    grant = registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {})],
        ends_at=datetime.now(UTC) + timedelta(minutes=20),
        actor=estate.cast.manager,
    )  # fmt: skip
    second = access_token(scope="github.create_pull_request:write")["access_token"]
    response = Client().post(complete_url(task.uuid), HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "task_id": str(task.uuid), "state": "completed", "tokens_revoked": 2, "grants_ended": 1,
        "entitlements_revoked": 1,
    }  # fmt: skip
    task.refresh_from_db()
    assert task.state == "completed" and task.completed_by is None and "agent token" in task.end_reason
    entry = AuditEntry.objects.get(action="task.complete")  # the trail names the agent, not "system"
    assert (entry.actor_kind, entry.actor_label) == ("agent", f"identity {estate.agent.uuid} ({estate.agent.name})")
    assert TokenRevocation.objects.count() == 2
    assert Grant.objects.get(pk=grant.pk).ended_at is not None
    assert not Entitlement.objects.filter(grant=grant, revoked_at__isnull=True).exists()
    assert (
        decide(estate.credential, second, tool="github.create_pull_request", action="write").json()["decision"]
        == "deny"
    )
    again = Client().post(complete_url(task.uuid), HTTP_AUTHORIZATION=f"Bearer {second}")
    assert again.status_code == 401  # its token ended with the task


def test_another_agents_token_cannot_complete_the_task(estate, issued):
    other = access_token(subject_token=svid(ACTOR_SPIFFE_ID))
    response = Client().post(complete_url(issued["task_id"]), HTTP_AUTHORIZATION=f"Bearer {other['access_token']}")
    assert response.status_code == 404


def test_a_forged_agent_token_is_401(estate, issued):
    head, body, _ = issued["access_token"].split(".")
    response = Client().post(complete_url(issued["task_id"]), HTTP_AUTHORIZATION=f"Bearer {head}.{body}.AAAA")
    assert response.status_code == 401


def test_people_who_may_complete_a_task_are_its_owner_and_security_analysts(estate, client_factory):
    """Anonymous 401; the owner and an analyst complete; others see it (403) or not at all (404)."""
    cast = estate.cast
    seen = {}
    assert Client().post(complete_url(access_token(task="t-anon")["task_id"])).status_code == 401
    for name, user in cast.members().items():
        task_id = access_token(task=f"t-{name}")["task_id"]
        client = client_factory(user)
        seen[name] = client.post(complete_url(task_id), content_type="application/json").status_code
    assert seen == {
        "administrator": 403, "identity_owner": 200, "manager": 403, "compliance_officer": 403,
        "security_analyst": 200, "auditor": 403, "outsider": 404,
    }  # fmt: skip
    assert Task.objects.get(identity=estate.agent, name="t-security_analyst").completed_by == cast.security_analyst


def test_an_owner_of_another_identity_gets_404(estate, client_factory):
    stranger = make_person("other-owner", "identity_owner")
    task_id = access_token(task="t-stranger")["task_id"]
    assert client_factory(stranger).post(complete_url(task_id)).status_code == 404


def test_completing_twice_is_a_conflict(estate, issued, client_factory):
    client = client_factory(estate.cast.security_analyst)
    assert client.post(complete_url(issued["task_id"])).status_code == 200
    response = client.post(complete_url(issued["task_id"]))
    assert response.status_code == 409 and response.json()["error"] == "conflict"


def test_an_unknown_task_is_404(estate, client_factory):
    client = client_factory(estate.cast.security_analyst)
    assert client.post(complete_url("00000000-0000-4000-8000-000000000000")).status_code == 404


def test_completing_a_task_through_the_registry_api_also_revokes_its_tokens(estate, issued):
    from tests.support import sign_in

    task = Task.objects.get(uuid=issued["task_id"])
    analyst = sign_in(Client(), estate.cast.security_analyst)
    response = analyst.post(
        f"/api/v1/tasks/{task.uuid}/complete/", {"reason": "incident closed"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert TokenRevocation.objects.filter(
        jti=jwt.decode(issued["access_token"], options={"verify_signature": False})["jti"]
    ).exists()
    assert introspect(estate.credential, issued["access_token"]).json() == {"active": False}
