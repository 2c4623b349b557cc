"""GET /api/v1/events/?trace_id=… and /api/v1/chains/{trace_id}/ (issue 12 acceptance): anonymous 401, a person
without a role 403, another owner sees nothing of the trace (an empty list, a 404 chain), the identity's owner,
their manager and the roles that see everything read it — quarantined events only for the latter, marked. A bad
trace id is a 400 naming trace_id; lists page with cursors and filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.cast import check_access
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.factories import PersonFactory
from tests.runtime_support import access_token, decide

pytestmark = pytest.mark.django_db
SEE_ALL = ("administrator", "compliance_officer", "security_analyst", "auditor")


@pytest.fixture
def chain(estate, keys):
    """invoke_agent → an allowed read (decided), a denied secret read, an error; a quarantined step; and a
    gateway decision of the trace that no exported step claims."""
    token = access_token(task="api-1")["access_token"]
    allowed = decide(estate.credential, token).json()["decision_id"]
    denied = decide(estate.credential, token, tool="vault.read_secret").json()["decision_id"]
    trace, root = trace_id(), span_id()
    decide(estate.credential, token, traceparent=f"00-{trace}-{root}-01", tool="jira.create_issue", action="write")
    start = datetime.now(UTC) - timedelta(minutes=1)
    mine = str(estate.agent.uuid)
    at = lambda seconds: (start + timedelta(seconds=seconds)).isoformat()  # noqa: E731
    batch = [
        event(identity=mine, trace_id=trace, span_id=root, name="invoke_agent triage", tool=None, action=None,
              started_at=at(0), ended_at=at(9)),
        event(identity=mine, trace_id=trace, parent_span_id=root, name="read the repo", decision_id=allowed,
              started_at=at(1), ended_at=at(2)),
        event(identity=mine, trace_id=trace, parent_span_id=root, name="read a secret", tool="vault.read_secret",
              decision_id=denied, started_at=at(3)),
        event(identity=mine, trace_id=trace, parent_span_id=root, name="open a PR", tool="github.create_pull_request",
              action="write", outcome="error", error_type="tool_error", started_at=at(4)),
        event(identifier="spiffe://elsewhere/agent/x", trace_id=trace, parent_span_id=root, name="unknown step",
              started_at=at(5)),
    ]  # fmt: skip
    assert post_events(keys.all, batch).json()["accepted"] == 5
    return trace


def names(response) -> list[str]:
    return [row["name"] for row in response.json()["results"]]


def test_who_may_list_a_traces_events(cast, client_factory, chain):
    check_access(
        client_factory, f"/api/v1/events/?trace_id={chain}", cast=cast,
        allowed=["identity_owner", "manager", *SEE_ALL],
    )  # fmt: skip
    other_owner = PersonFactory(username="other-owner", roles=["identity_owner"])
    response = client_factory(other_owner).get(f"/api/v1/events/?trace_id={chain}")
    assert response.status_code == 200 and response.json()["results"] == []


def test_those_who_see_everything_get_the_quarantined_event_marked(cast, client_factory, chain):
    rows = client_factory(cast.auditor).get(f"/api/v1/events/?trace_id={chain}").json()["results"]
    assert [r["name"] for r in rows] == [
        "invoke_agent triage", "read the repo", "read a secret", "open a PR", "unknown step",
    ]  # fmt: skip
    quarantined = [r for r in rows if r["quarantined"]]
    assert len(quarantined) == 1 and quarantined[0]["quarantine"] == "unknown_identity"
    assert quarantined[0]["identity"] is None and quarantined[0]["claimed"]
    assert rows[0]["identity"]["name"] == "triage-bot" and rows[0]["trace_id"] == chain


def test_an_owner_sees_their_identitys_events_only(cast, client_factory, chain):
    response = client_factory(cast.identity_owner).get(f"/api/v1/events/?trace_id={chain}")
    assert "unknown step" not in names(response) and len(names(response)) == 4
    assert not any(r["quarantined"] for r in response.json()["results"])


def test_a_bad_or_missing_trace_id_is_a_400_naming_it(cast, client_factory, chain):
    client = client_factory(cast.security_analyst)
    for query in ("trace_id=XYZ", "trace_id=" + "0" * 32, "trace_id=", "", f"trace_id={chain.upper()}"):
        response = client.get(f"/api/v1/events/?{query}")
        assert response.status_code == 400, query
        assert "trace_id" in response.json()["fields"], query


def test_pages_follow_the_cursor_and_filters_narrow(cast, client_factory, chain, estate):
    client = client_factory(cast.security_analyst)
    seen, url = [], f"/api/v1/events/?trace_id={chain}&page_size=2"
    while url:
        page = client.get(url).json()
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert len(seen) == 5 and len(set(seen)) == 5
    assert names(client.get(f"/api/v1/events/?trace_id={chain}&outcome=error")) == ["open a PR"]
    assert names(client.get(f"/api/v1/events/?trace_id={chain}&quarantined=true")) == ["unknown step"]
    assert len(names(client.get(f"/api/v1/events/?trace_id={chain}&quarantined=false"))) == 4
    assert names(client.get(f"/api/v1/events/?trace_id={chain}&tool=vault.read_secret")) == ["read a secret"]
    by_identity = names(client.get(f"/api/v1/events/?identity={estate.agent.uuid}"))
    assert by_identity[0] == "unknown step" or by_identity[0] == "open a PR"  # newest first
    assert client.get("/api/v1/events/?identity=nope").status_code == 400
    assert client.get(f"/api/v1/events/?trace_id={chain}&cursor=garbage").status_code == 400


def test_who_may_read_a_chain(cast, client_factory, chain):
    other_owner = PersonFactory(username="other-owner", roles=["identity_owner"])
    check_access(
        client_factory, f"/api/v1/chains/{chain}/", cast=cast, allowed=["identity_owner", "manager", *SEE_ALL],
        object_denied=[other_owner],
    )  # fmt: skip


def test_the_chain_gives_each_step_with_its_parent_decision_and_timing(cast, client_factory, chain):
    body = client_factory(cast.security_analyst).get(f"/api/v1/chains/{chain}/").json()
    assert body["trace_id"] == chain and body["depth"] == 1 and body["denied"] == 2 and body["errors"] == 1
    assert body["quarantined"] == 1 and body["agents"] == ["triage-bot"]
    steps = {step["name"]: step for step in body["steps"]}
    root = steps["invoke_agent triage"]
    assert root["parent"] is None and root["depth"] == 0 and root["duration_ms"] == 9000
    read = steps["read the repo"]
    assert read["parent"] == root["id"] and read["agent"]["name"] == "triage-bot" and read["tool"] == "github.read_repo"
    assert read["decision"]["decision"] == "allow" and read["decision"]["reasons"] == ["allow-standing-entitlement"]
    assert steps["read a secret"]["decision"]["decision"] == "deny"
    assert steps["open a PR"]["outcome"] == "error" and steps["open a PR"]["error_type"] == "tool_error"
    assert steps["unknown step"]["quarantined"] and steps["unknown step"]["agent"] is None
    gateway = steps["gateway decision"]
    assert gateway["kind"] == "decision" and gateway["parent"] == root["id"] and gateway["tool"] == "jira.create_issue"
    assert gateway["action"] == "write" and gateway["decision"]["id"] == gateway["id"]
    assert gateway["decision"]["decision"] == "deny"  # the agent holds no jira entitlement


def test_an_owner_reads_the_chain_without_the_quarantined_step(cast, client_factory, chain):
    body = client_factory(cast.identity_owner).get(f"/api/v1/chains/{chain}/").json()
    assert "unknown step" not in [s["name"] for s in body["steps"]] and body["quarantined"] == 0


def test_a_bad_trace_id_is_a_400_naming_it_and_an_unknown_one_a_404(cast, client_factory, chain):
    client = client_factory(cast.security_analyst)
    response = client.get("/api/v1/chains/not-a-trace/")
    assert response.status_code == 400 and "trace_id" in response.json()["fields"]
    assert client.get(f"/api/v1/chains/{'0' * 32}/").status_code == 400
    assert client.get(f"/api/v1/chains/{trace_id()}/").status_code == 404


def test_the_chain_reads_a_fixed_number_of_queries(cast, client_factory, chain, django_assert_max_num_queries):
    client = client_factory(cast.security_analyst)
    client.get(f"/api/v1/chains/{chain}/")
    with django_assert_max_num_queries(10):
        assert client.get(f"/api/v1/chains/{chain}/").status_code == 200
