"""The reference client (agentiam.client) against the real app: the agent helpers exchange a signed assertion
for a task token, the gateway forwards only what AgentIAM allows, completion stops the next call, and the demo
command plays the whole story from the credentials the local seed writes."""

from __future__ import annotations

import io
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management import call_command

from agentiam.client import AgentClient, Gateway, RuntimeApiError, ToolServer
from agentiam.client.demo import run as run_demo
from agentiam.client.gateway import call_tool
from identities.runtime import services as runtime
from identities.runtime.models import AssertionKey, PolicyDecision
from identities.runtime.models import Gateway as GatewayRow
from identities.runtime.seeds import reference_client
from tests.runtime_support import AUDIENCE, CLIENT_KEY, build_estate, ensure_baseline_policy, public_jwk

pytestmark = pytest.mark.django_db(transaction=True)
ALLOWED = {"tool": "github.read_repo", "action": "read", "resource": {"repo": "acme/api"}}


@pytest.fixture
def estate(cast):
    estate = build_estate(cast)
    runtime.assertion_key_create(
        actor=cast.administrator, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "ed-1"), algorithm="EdDSA"
    )
    return estate


@pytest.fixture
def agent(live_server):
    return AgentClient(live_server.url, token_endpoint=settings.RUNTIME_TOKEN_ENDPOINT)


def grant_for(agent, estate, scopes=("github.read_repo:read",), task="triage-42"):
    proof = agent.assertion(client_id=str(estate.agent.uuid), private_key=CLIENT_KEY, kid="ed-1")
    return agent.exchange(proof, audience=AUDIENCE, scopes=scopes, task=task)


@pytest.fixture
def tools():
    with ToolServer() as server:
        yield server


def gateway(live_server, tools, credential):
    return Gateway(agentiam_url=live_server.url, credential=credential, tool_url=tools.url)


def test_an_allowed_call_is_forwarded_and_the_tool_answers(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    with gateway(live_server, tools, estate.credential) as gw:
        status, body = call_tool(gw.url, grant.access_token, **ALLOWED)
    assert status == 200, body
    assert body["decision"] == "allow" and body["reasons"] == ["allow-standing-entitlement"]
    assert body["tool_answer"]["tool"] == "github.read_repo"
    assert [call["resource"] for call in tools.received] == [{"repo": "acme/api"}]


def test_the_gateway_passes_the_agents_traceparent_on_to_decide(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with gateway(live_server, tools, estate.credential) as gw:
        status, body = call_tool(gw.url, grant.access_token, **ALLOWED, traceparent=f"00-{trace}-{span}-01")
        broken_status, broken = call_tool(gw.url, grant.access_token, **ALLOWED, traceparent="garbage")
    assert status == 200 and broken_status == 200  # a broken trace header never stops a call
    decisions = PolicyDecision.objects.filter(uuid__in=[body["decision_id"], broken["decision_id"]])
    assert {str(d.uuid): (d.trace_id, d.span_id) for d in decisions} == {
        body["decision_id"]: (trace, span),
        broken["decision_id"]: ("", ""),
    }


def test_a_call_outside_the_entitlements_scope_is_blocked_with_the_reasons(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    with gateway(live_server, tools, estate.credential) as gw:
        status, body = call_tool(gw.url, grant.access_token, **{**ALLOWED, "resource": {"repo": "globex/payroll"}})
    assert status == 403
    assert body["error"] == "denied" and body["decision"] == "deny" and body["reasons"] and body["decision_id"]
    assert tools.received == []


def test_after_completion_the_same_unexpired_token_is_denied(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    with gateway(live_server, tools, estate.credential) as gw:
        assert call_tool(gw.url, grant.access_token, **ALLOWED)[0] == 200
        answer = agent.complete(grant)
        status, body = call_tool(gw.url, grant.access_token, **ALLOWED)
    assert answer["tokens_revoked"] == 1
    assert status == 403 and body["decision"] == "deny"
    assert len(tools.received) == 1


def test_a_scope_the_agent_does_not_hold_is_invalid_scope_naming_it(live_server, estate, agent):
    with pytest.raises(RuntimeApiError) as refused:
        grant_for(agent, estate, scopes=("github.read_repo:read", "github.create_pull_request:write"))
    assert refused.value.status == 400 and refused.value.error == "invalid_scope"
    assert refused.value.body["missing_scopes"] == ["github.create_pull_request:write"]
    assert refused.value.body["task_id"]


def test_a_gateway_with_a_wrong_credential_forwards_nothing(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    wrong = estate.credential[:-4] + "AAAA"
    with gateway(live_server, tools, wrong) as gw:
        status, body = call_tool(gw.url, grant.access_token, **ALLOWED)
    assert status == 502 and body["error"] == "decision_unavailable" and "HTTP 401" in body["detail"]
    assert tools.received == []


def test_another_gateways_credential_is_denied_for_this_audience(live_server, estate, agent, tools):
    grant = grant_for(agent, estate)
    with gateway(live_server, tools, estate.other_credential) as gw:
        status, body = call_tool(gw.url, grant.access_token, **ALLOWED)
    assert status == 403 and body["reasons"] == ["token-other-audience"]
    assert tools.received == []


def test_the_gateway_refuses_a_call_without_a_token_or_with_a_bad_body(live_server, estate, tools):
    with gateway(live_server, tools, estate.credential) as gw:
        assert call_tool(gw.url, "", **ALLOWED)[0] == 401
        assert call_tool(gw.url, "not-a-token", tool="x", action="read", resource={})[0] == 403
    assert tools.received == []


def test_a_replayed_assertion_is_refused_as_invalid_grant(live_server, estate, agent):
    proof = agent.assertion(client_id=str(estate.agent.uuid), private_key=CLIENT_KEY, kid="ed-1")
    agent.exchange(proof, audience=AUDIENCE, scopes=["github.read_repo:read"], task="once")
    with pytest.raises(RuntimeApiError) as refused:
        agent.exchange(proof, audience=AUDIENCE, scopes=["github.read_repo:read"], task="once")
    assert refused.value.error == "invalid_grant" and refused.value.body["proof_error"] == "replayed"


@pytest.fixture
def demo_estate(signing_keys):
    ensure_baseline_policy()  # another transactional test may have flushed the migration's version
    call_command("seed_demo", stdout=io.StringIO())  # the test profile writes no demo secrets


def test_the_local_seed_writes_the_demo_secrets_privately_and_is_idempotent(demo_estate, tmp_path):
    reference_client.seed(tmp_path, profile="local")
    path = tmp_path / reference_client.FILE_NAME
    first = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reference_client.seed(tmp_path, profile="local")
    assert json.loads(path.read_text()) == first
    assert GatewayRow.objects.filter(name=reference_client.GATEWAY_NAME).count() == 1
    assert AssertionKey.objects.enabled().filter(kid=first["agent"]["kid"]).count() == 1


def test_a_lost_secrets_file_rotates_the_credential_and_replaces_the_key(demo_estate, tmp_path):
    reference_client.seed(tmp_path, profile="local")
    first = json.loads((tmp_path / reference_client.FILE_NAME).read_text())
    (tmp_path / reference_client.FILE_NAME).unlink()
    reference_client.seed(tmp_path, profile="local")
    second = json.loads((tmp_path / reference_client.FILE_NAME).read_text())
    assert second["gateway"]["credential"] != first["gateway"]["credential"]
    keys = AssertionKey.objects.filter(kid__startswith=reference_client.KID_PREFIX)
    assert list(keys.enabled().values_list("kid", flat=True)) == [second["agent"]["kid"]]


@pytest.mark.parametrize("profile", ["production", "test"])
def test_no_demo_secrets_are_written_outside_the_local_profile(demo_estate, tmp_path, profile):
    reference_client.seed(tmp_path, profile=profile)
    assert not (tmp_path / reference_client.FILE_NAME).exists()
    assert not GatewayRow.objects.filter(name=reference_client.GATEWAY_NAME).exists()


def test_the_demo_command_plays_the_whole_story_against_the_app(demo_estate, live_server, tmp_path):
    reference_client.seed(tmp_path, profile="local")
    lines: list[str] = []
    status = run_demo(live_server.url, tmp_path / reference_client.FILE_NAME, out=lines.append)
    printed = "\n".join(lines)
    assert status == 0, printed
    assert "UNEXPECTED" not in printed and "invalid_scope" in printed and "github.merge_pull_request:write" in printed
    # invalid_scope led to an elevation request the demo manager approved, for less, and the call was allowed.
    from reviews.models import ElevationRequest

    asked = ElevationRequest.objects.filter(task__name__startswith="reference-demo-").get()  # seed_demo has others
    assert asked.state == "approved" and asked.requested_by_identity.name == reference_client.AGENT_NAME
    assert asked.approvals.get().approver.username == "manager" and asked.granted_duration_seconds == 600
    assert "Retry-After" in printed and "allowed under the JIT grant" in printed


def test_the_demo_manager_token_is_written_and_kept_while_it_works(demo_estate, tmp_path):
    reference_client.seed(tmp_path, profile="local")
    first = json.loads((tmp_path / reference_client.FILE_NAME).read_text())["approver"]
    assert first["username"] == "manager" and first["api_token"].startswith("aiam_")
    reference_client.seed(tmp_path, profile="local")
    assert json.loads((tmp_path / reference_client.FILE_NAME).read_text())["approver"] == first


def test_the_demo_says_where_the_credentials_should_be_when_they_are_missing(tmp_path):
    lines: list[str] = []
    assert run_demo("http://127.0.0.1:9", tmp_path / "missing.json", out=lines.append) == 2
    assert "make run" in lines[0]


def test_a_refused_demo_configuration_is_skipped_without_breaking_the_seed(demo_estate, tmp_path, cast):
    runtime.gateway_create(
        actor=cast.administrator, name="squatter", audiences=[reference_client.AUDIENCE], environment="dev"
    )
    lines = reference_client.seed(tmp_path, profile="local")
    assert "refused" in lines[0] and "already served" in lines[0]
    assert not (tmp_path / reference_client.FILE_NAME).exists()


def test_the_demo_says_so_when_agentiam_is_not_running(tmp_path):
    secrets = tmp_path / "demo.json"
    key = CLIENT_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    secrets.write_text(
        json.dumps(
            {
                "token_endpoint": "http://127.0.0.1:9/api/v1/runtime/token",
                "agent": {"id": "x", "name": "a", "kid": "k", "private_key_pem": key},
                "gateway": {"name": "g", "audience": AUDIENCE, "credential": "c"},
                **reference_client.DEMO_CALLS,
            }
        )
    )
    lines: list[str] = []
    assert run_demo("http://127.0.0.1:9", secrets, out=lines.append) == 2
    assert "not reachable at http://127.0.0.1:9" in lines[-1]
