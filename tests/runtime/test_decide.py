"""decide over HTTP: gateways only, for their own audiences; every answer checked against the clock and the
database at decision time and logged. No Celery worker runs in these tests: nothing waits on one."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.management import call_command
from django.utils import timezone

from audit.models import SigningKey
from identities import services as registry
from identities.models import Grant, Task
from identities.runtime import services as runtime
from identities.runtime.decision_ids import decided_at_bounds
from identities.runtime.models import PolicyDecision, PolicyVersion, TokenRevocation
from identities.runtime.policy import SCHEMA
from identities.runtime.services import decide as decide_service
from tests.runtime_support import access_token, decide, decide_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(estate):
    return access_token()["access_token"]


def answer(response, decision):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["decision"] == decision, body
    return body


def test_a_call_an_entitlement_covers_is_allowed_and_logged_with_what_was_evaluated(estate, token):
    body = answer(decide(estate.credential, token), "allow")
    assert body["reasons"] == ["allow-standing-entitlement"]
    row = PolicyDecision.objects.get(uuid=body["decision_id"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert row.identity == estate.agent and row.gateway == estate.gateway and row.token_jti == claims["jti"]
    assert row.task.name == "triage-42" and row.tool_key == "github.read_repo" and row.action == "read"
    assert row.resource == {"repo": "acme/api"} and row.decision == "allow"
    assert row.policy_version == PolicyVersion.objects.get(status="active")
    assert row.evaluated["request"]["context"]["standing_covers"] is True
    assert {entity["uid"]["type"] for entity in row.evaluated["entities"]} == {"Identity", "Tool"}
    assert row.latency_us > 0
    low, high = decided_at_bounds(uuid.UUID(body["decision_id"]))
    assert low <= row.decided_at <= high


def test_a_resource_outside_the_entitlements_scope_is_denied(estate, token):
    body = answer(decide(estate.credential, token, resource={"repo": "other/api"}), "deny")
    assert body["reasons"] == ["default-deny"]


def test_a_call_outside_the_tokens_scope_is_denied(estate, token):
    answer(decide(estate.credential, token, tool="github.create_pull_request", action="read"), "deny")


def test_decide_without_gateway_credentials_is_401(estate, token):
    response = decide(None, token)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not PolicyDecision.objects.exists()


@pytest.mark.parametrize(
    "credential",
    ["aiamgw_000000000000_" + "x" * 43, "not-a-credential", "aiam_abcdefabcdef_" + "y" * 43],
)
def test_a_wrong_gateway_credential_is_401(estate, token, credential):
    assert decide(credential, token).status_code == 401


def test_a_credential_with_the_right_prefix_but_a_wrong_secret_is_401(estate, token):
    forged = estate.credential[: len("aiamgw_") + 13] + "z" * 43
    assert decide(forged, token).status_code == 401


def test_a_disabled_gateway_is_refused(estate, token):
    runtime.config_disable(row=estate.gateway, actor=estate.cast.administrator, reason="decommissioned")
    assert decide(estate.credential, token).status_code == 401


def test_a_token_for_one_gateways_audience_is_refused_by_another_gateway(estate, token):
    body = answer(decide(estate.other_credential, token), "deny")
    assert body["reasons"] == ["token-other-audience"]
    assert PolicyDecision.objects.get(uuid=body["decision_id"]).gateway == estate.other_gateway


def test_after_complete_the_next_decision_is_deny(estate, token):
    answer(decide(estate.credential, token), "allow")
    task = Task.objects.get(identity=estate.agent, name="triage-42")
    runtime.task_end(task=task, actor=estate.cast.security_analyst)
    body = answer(decide(estate.credential, token), "deny")
    assert "deny-token-inactive" in body["reasons"] and "deny-task-ended" in body["reasons"]


def test_after_suspension_the_next_decision_is_deny(estate, token):
    runtime.identity_suspend(identity=estate.agent, actor=estate.cast.security_analyst, reason="anomalous calls")
    body = answer(decide(estate.credential, token), "deny")
    assert "deny-identity-not-active" in body["reasons"]


@pytest.fixture
def jit_token(estate):
    first = access_token(scope="github.read_repo:read")
    task = Task.objects.get(uuid=first["task_id"])
    grant = registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {"repo": "acme/*"})],
        ends_at=timezone.now() + timedelta(minutes=10), actor=estate.cast.manager,
    )  # fmt: skip
    return grant, access_token(scope="github.create_pull_request:write")["access_token"]


def test_a_jit_grant_of_the_task_allows_the_write(estate, jit_token):
    _, token = jit_token
    body = answer(decide(estate.credential, token, tool="github.create_pull_request", action="write"), "allow")
    assert body["reasons"] == ["allow-jit"]


def test_after_the_grant_is_ended_the_next_decision_is_deny(estate, jit_token):
    grant, token = jit_token
    runtime.grant_end(grant=grant, actor=estate.cast.security_analyst, reason="done early")
    body = answer(decide(estate.credential, token, tool="github.create_pull_request", action="write"), "deny")
    assert body["reasons"] == ["deny-token-inactive"]  # the grant's tokens were revoked with it


def test_after_the_grants_end_time_the_next_decision_is_deny_though_no_job_ended_it(estate, jit_token, monkeypatch):
    grant, token = jit_token
    later = Grant.objects.get(pk=grant.pk).ends_at + timedelta(seconds=1)
    monkeypatch.setattr(decide_service.timezone, "now", lambda: later)
    body = answer(decide(estate.credential, token, tool="github.create_pull_request", action="write"), "deny")
    assert Grant.objects.get(pk=grant.pk).ended_at is None  # nothing in the database says it ended
    assert "deny-token-inactive" in body["reasons"]  # the token never outlives the grant


def test_an_expired_token_is_denied_by_the_clock_of_the_decision(estate, token, monkeypatch):
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(decide_service.timezone, "now", lambda: datetime.fromtimestamp(expires + 1, tz=UTC))
    assert "deny-token-inactive" in answer(decide(estate.credential, token), "deny")["reasons"]


def test_a_token_signed_by_anyone_else_under_our_kid_is_invalid(estate, token):
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header)
    body = answer(decide(estate.credential, forged), "deny")
    assert body["reasons"] == ["token-invalid"]
    assert PolicyDecision.objects.get(uuid=body["decision_id"]).identity is None


@pytest.mark.parametrize("bad", ["", "x.y.z", "garbage"])
def test_a_malformed_token_is_denied_not_a_500(estate, bad):
    if not bad:
        assert decide(estate.credential, bad).status_code == 400
        return
    assert answer(decide(estate.credential, bad), "deny")["reasons"] == ["token-invalid"]


def test_tokens_under_a_compromised_key_are_revoked_and_denied(estate, token):
    old = SigningKey.objects.get(purpose="token", status="active")
    call_command("rotate_signing_key", "token", "--compromised")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert TokenRevocation.objects.get(jti=jti).reason == f"signing key {old.kid} compromised"
    assert "deny-token-inactive" in answer(decide(estate.credential, token), "deny")["reasons"]


def test_an_unknown_tool_is_denied(estate, token):
    assert answer(decide(estate.credential, token, tool="nope.tool"), "deny")["reasons"] == ["tool-unknown"]


def test_the_runtime_denies_a_suspended_identity_even_under_a_policy_that_allows_everything(estate, token):
    PolicyVersion.objects.filter(status="active").update(status="retired", retired_at=timezone.now())
    allow_all = '@id("allow-all")\n@explanation("Everything.")\npermit (principal, action, resource);'
    PolicyVersion.objects.create(number=2, status="active", policy_text=allow_all, schema_text=SCHEMA)
    assert answer(decide(estate.credential, token), "allow")["reasons"] == ["allow-all"]
    runtime.identity_suspend(identity=estate.agent, actor=estate.cast.security_analyst, reason="kill switch")
    body = answer(decide(estate.credential, token), "deny")
    assert (
        body["reasons"] == ["token-inactive", "task-ended", "identity-not-active"]
        or "identity-not-active" in body["reasons"]
    )
    assert "identity-not-active" in body["reasons"]


def test_a_batch_is_decided_in_order_and_each_call_is_logged(estate, token):
    calls = [
        {"token": token, "tool": "github.read_repo", "action": "read", "resource": {"repo": "acme/api"}},
        {"token": token, "tool": "github.read_repo", "action": "read", "resource": {"repo": "evil/api"}},
        {"token": "x.y.z", "tool": "github.read_repo", "action": "read"},
    ]
    response = decide_batch(estate.credential, calls)
    assert response.status_code == 200, response.content
    decisions = response.json()["decisions"]
    assert [d["decision"] for d in decisions] == ["allow", "deny", "deny"]
    assert decisions[2]["reasons"] == ["token-invalid"]
    assert PolicyDecision.objects.filter(uuid__in=[d["decision_id"] for d in decisions]).count() == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tool": "github.read_repo", "action": "read"}, "token"),
        ({"token": "t", "tool": "github.read_repo", "action": "delete"}, "action"),
        ({"token": "t", "tool": "github.read_repo", "action": "read", "resource": {"repo": 1}}, "resource"),
        ({"token": "t", "tool": "github.read_repo", "action": "read", "context": {"admin": True}}, "context"),
        ({"token": "t", "tool": "github.read_repo", "action": "read", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(estate, body, field):
    from django.test import Client

    response = Client().post(
        "/api/v1/runtime/decide", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {estate.credential}",
    )  # fmt: skip
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_batch_over_the_limit_is_refused(estate, token):
    response = decide_batch(estate.credential, [{"token": token, "tool": "t", "action": "read"}] * 101)
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)  # autocommit, as under gunicorn: no savepoints around the insert
def test_decide_reads_everything_in_one_round_trip_and_logs_in_another(estate, token, django_assert_max_num_queries):
    decide(estate.credential, token)  # the worker has the active policy parsed
    with django_assert_max_num_queries(2):
        answer(decide(estate.credential, token), "allow")


def test_without_prepared_statements_the_answers_are_the_same(estate, token, settings):
    settings.RUNTIME_PREPARED_LOOKUPS = False  # behind a pooler that cannot keep prepared statements
    fresh = access_token(task="unprepared")["access_token"]
    assert answer(decide(estate.credential, fresh), "allow")["reasons"] == ["allow-standing-entitlement"]
    assert answer(decide(estate.credential, token, resource={"repo": "x/y"}), "deny")["reasons"] == ["default-deny"]
