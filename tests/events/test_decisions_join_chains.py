"""Decisions join chains (issue 12 item 2): decide reads a W3C traceparent (a header for the whole request, or a
field of one request), keeps the trace and caller span ids with the decision, and the chain page shows the
trace's gateway decisions — on the step that asked for them, or as steps of their own under that span."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from agentiam import tracecontext
from identities.runtime.models import PolicyDecision
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.runtime_support import DECIDE_URL, access_token
from tests.runtime_support import decide as decide_body

pytestmark = pytest.mark.django_db


def decide(credential, token, *, tool="github.read_repo", traceparent=None, **headers):
    if traceparent is not None:
        return decide_body(credential, token, tool=tool, traceparent=traceparent)
    body = {"token": token, "tool": tool, "action": "read", "resource": {"repo": "acme/api"}}
    return Client().post(
        DECIDE_URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {credential}",
        **headers,
    )  # fmt: skip


def traceparent(trace: str, span: str, flags: str = "01") -> str:
    return f"00-{trace}-{span}-{flags}"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", True),
        (" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t", True),  # header whitespace
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", True),  # a later version's tail
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", False),  # 00 has no tail
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", False),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", False),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", False),  # upper case
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", False),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", False),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_traceparent_is_parsed_strictly(value, valid):
    parsed = tracecontext.parse(value)
    assert (parsed is not None) is valid
    if valid:
        assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and parsed.parent_id == "00f067aa0ba902b7"


def test_the_header_is_kept_with_the_decision(estate):
    token = access_token(task="trace-1")["access_token"]
    trace, span = trace_id(), span_id()
    answer = decide(estate.credential, token, HTTP_TRACEPARENT=traceparent(trace, span)).json()
    row = PolicyDecision.objects.get(uuid=answer["decision_id"])
    assert (row.trace_id, row.span_id) == (trace, span)


def test_without_a_traceparent_nothing_is_recorded(estate):
    token = access_token(task="trace-2")["access_token"]
    answer = decide(estate.credential, token).json()
    row = PolicyDecision.objects.get(uuid=answer["decision_id"])
    assert (row.trace_id, row.span_id) == ("", "")


def test_a_malformed_header_is_ignored_as_w3c_asks(estate):
    token = access_token(task="trace-3")["access_token"]
    response = decide(estate.credential, token, HTTP_TRACEPARENT="00-not-a-trace-01")
    assert response.status_code == 200 and response.json()["decision"] == "allow"
    assert PolicyDecision.objects.get(uuid=response.json()["decision_id"]).trace_id == ""


def test_a_malformed_field_is_a_400_naming_it_and_nothing_is_logged(estate):
    token = access_token(task="trace-4")["access_token"]
    before = PolicyDecision.objects.count()
    response = decide(estate.credential, token, traceparent="00-" + "0" * 32 + "-" + span_id() + "-01")
    assert response.status_code == 400 and "traceparent" in response.json()["fields"]
    batch = [{"token": token, "tool": "github.read_repo", "action": "read", "traceparent": 7}]
    response = Client().post(
        DECIDE_URL, json.dumps(batch), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {estate.credential}"
    )
    assert response.status_code == 400 and "0.traceparent" in response.json()["fields"]
    assert PolicyDecision.objects.count() == before


def test_in_a_batch_a_field_overrides_the_header_for_its_request(estate):
    token = access_token(task="trace-5")["access_token"]
    trace, span, own_trace, own_span = trace_id(), span_id(), trace_id(), span_id()
    batch = [
        {"token": token, "tool": "github.read_repo", "action": "read", "resource": {"repo": "acme/api"}},
        {"token": token, "tool": "github.read_repo", "action": "read", "resource": {"repo": "acme/api"},
         "traceparent": traceparent(own_trace, own_span)},
    ]  # fmt: skip
    response = Client().post(
        DECIDE_URL, json.dumps(batch), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {estate.credential}", HTTP_TRACEPARENT=traceparent(trace, span),
    )  # fmt: skip
    ids = [answer["decision_id"] for answer in response.json()["decisions"]]
    rows = {str(r.uuid): (r.trace_id, r.span_id) for r in PolicyDecision.objects.filter(uuid__in=ids)}
    assert [rows[i] for i in ids] == [(trace, span), (own_trace, own_span)]


def test_the_chain_shows_the_traces_gateway_decisions(cast, client_factory, estate, keys):
    """The agent exported its invoke_agent span and one tool call span; the gateway decided that call and a
    second one the agent did not export. The first decision sits on its step, the second is a step of its own
    under the agent's span."""
    token = access_token(task="trace-6")["access_token"]
    trace, root, call = trace_id(), span_id(), span_id()
    joined = decide(estate.credential, token, HTTP_TRACEPARENT=traceparent(trace, call)).json()["decision_id"]
    alone = decide(
        estate.credential, token, tool="vault.read_secret", HTTP_TRACEPARENT=traceparent(trace, root)
    ).json()["decision_id"]
    start = datetime.now(UTC) - timedelta(seconds=30)
    mine = str(estate.agent.uuid)
    batch = [
        event(identity=mine, trace_id=trace, span_id=root, name="invoke_agent triage", tool=None, action=None,
              started_at=start.isoformat()),
        event(identity=mine, trace_id=trace, span_id=call, parent_span_id=root, name="read the repo",
              started_at=(start + timedelta(seconds=1)).isoformat()),
    ]  # fmt: skip
    assert post_events(keys.all, batch).json()["accepted"] == 2
    text = client_factory(cast.security_analyst).get(f"/events/chains/{trace}/").content.decode()
    assert "3 steps" in text and "chain-gateway" in text and "depth 1" in text
    assert joined in text
    assert alone in text and "vault.read_secret" in text and "chain-denied" in text
    assert text.index("invoke_agent triage") < text.index('"strong">gateway decision')


def test_a_trace_of_gateway_decisions_only_is_a_chain_too(cast, client_factory, estate):
    token = access_token(task="trace-7")["access_token"]
    trace = trace_id()
    decide(estate.credential, token, HTTP_TRACEPARENT=traceparent(trace, span_id()))
    page = client_factory(cast.identity_owner).get(f"/events/chains/{trace}/")
    assert page.status_code == 200 and "1 step" in page.content.decode()
    assert client_factory(cast.security_analyst).get(f"/events/chains/{trace}/").status_code == 200
