"""The chain page of one trace: who may open it (anonymous to sign-in; the identity's owner, their manager and
the roles that see everything; an outsider 403; another owner 404), the steps as a tree with the joined
decision, and quarantined steps only for those who see everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.events.chains import tree
from audit.events.models import ActionEvent
from tests.cast import check_access
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.factories import PersonFactory
from tests.runtime_support import access_token, decide

pytestmark = pytest.mark.django_db
SEE_ALL = ("administrator", "compliance_officer", "security_analyst", "auditor")


@pytest.fixture
def chain(estate, keys):
    """A trace: the triage agent's invoke_agent, a tool call decided (allowed) by the gateway under it, a denied
    one, an error, and a quarantined step from an unknown producer."""
    token = access_token(task="chain-1")["access_token"]
    allowed = decide(estate.credential, token).json()["decision_id"]
    denied = decide(estate.credential, token, tool="vault.read_secret").json()["decision_id"]
    trace, root = trace_id(), span_id()
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


def test_who_may_open_a_chain(cast, client_factory, chain, estate):
    other_owner = PersonFactory(username="other-owner", roles=["identity_owner"])
    check_access(
        client_factory, f"/events/chains/{chain}/", cast=cast, allowed=["identity_owner", "manager", *SEE_ALL],
        object_denied=[other_owner],
    )  # fmt: skip


def test_the_chain_shows_steps_under_their_parent_with_decisions_and_outcomes(cast, client_factory, chain):
    page = client_factory(cast.security_analyst).get(f"/events/chains/{chain}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert text.index("invoke_agent triage") < text.index("read the repo") < text.index("read a secret")
    assert "chain-denied" in text and "chain-error" in text and "tool_error" in text
    assert "unknown step" in text and "quarantined" in text  # those who see everything see quarantine
    assert "5 steps" in text and "depth 1" in text and "fan-out 4" in text


def test_an_owner_sees_their_identitys_steps_but_not_the_quarantined_one(cast, client_factory, chain):
    page = client_factory(cast.identity_owner).get(f"/events/chains/{chain}/")
    text = page.content.decode()
    assert "read the repo" in text and "unknown step" not in text and "4 steps" in text


def test_a_malformed_or_unknown_trace_is_a_404(cast, client_factory, chain):
    client = client_factory(cast.security_analyst)
    assert client.get("/events/chains/not-a-trace/").status_code == 404
    assert client.get(f"/events/chains/{trace_id()}/").status_code == 404


def test_a_chain_of_thousands_of_steps_is_walked_without_recursion():
    class S:
        def __init__(self, span, parent):
            self.span_id, self.parent_span_id, self.folded_span_ids = span, parent, []

    steps = [S(f"{i:016x}", f"{i - 1:016x}" if i else "") for i in range(5000)]
    nodes, depth, fan_out = tree(steps)
    assert depth == 4999 and fan_out == 1
    assert [n.kind for n in nodes].count("step") == 5000


def test_the_page_reads_a_fixed_number_of_queries(cast, client_factory, chain, django_assert_max_num_queries):
    client = client_factory(cast.security_analyst)
    client.get(f"/events/chains/{chain}/")
    with django_assert_max_num_queries(12):
        assert client.get(f"/events/chains/{chain}/").status_code == 200
    assert ActionEvent.objects.filter(trace_id=chain).count() == 5
