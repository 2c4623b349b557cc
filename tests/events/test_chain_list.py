"""The chain list (issue 12 item 4): recent chains the reader may see, each headed by its root step, with its
steps, errors, denied calls and widening alert; filtered by who started it, workflow, outcome and "widened";
a fixed number of queries whatever the rows (also pinned in tests/platform/test_list_queries.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.alerts.evaluate import evaluate_new_events
from identities import services as registry
from identities.models import Task, Workflow
from tests.alerts.support import sensitive_secrets, widening_chain
from tests.cast import check_access
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.factories import PersonFactory
from tests.runtime_support import access_token, decide

pytestmark = pytest.mark.django_db
ROLES = ["administrator", "identity_owner", "manager", "compliance_officer", "security_analyst", "auditor"]


def chain(key, identity, *, name, error=False, start=None, **root):
    trace, top = trace_id(), span_id()
    start = start or datetime.now(UTC) - timedelta(minutes=2)
    batch = [
        event(identity=str(identity.uuid), trace_id=trace, span_id=top, name=name, tool=None, action=None,
              started_at=start.isoformat(), **root),
        event(identity=str(identity.uuid), trace_id=trace, parent_span_id=top, name=f"{name}: read",
              outcome="error" if error else "ok", error_type="tool_error" if error else None,
              started_at=(start + timedelta(seconds=1)).isoformat()),
    ]  # fmt: skip
    assert post_events(key, batch).json()["accepted"] == 2
    return trace


@pytest.fixture
def chains(estate, keys, cast):
    sensitive_secrets()
    support = Workflow.objects.create(name="support-intake")
    registry.workflow_attach(identity=estate.agent, workflow=support, actor=cast.identity_owner)
    made = {
        "plain": chain(keys.all, estate.agent, name="triage plain"),
        "failing": chain(keys.all, estate.agent, name="triage failing", error=True),
        "orchestrated": chain(keys.all, estate.orchestrator, name="orchestrator run"),
        "widening": widening_chain(estate, keys.all),
    }
    evaluate_new_events()
    return made


def text(client, query=""):
    answer = client.get(f"/events/chains/{query}")
    assert answer.status_code == 200, answer.status_code
    return answer.content.decode()


def test_who_may_open_the_chain_list(cast, client_factory, chains):
    check_access(client_factory, "/events/chains/", cast=cast, allowed=ROLES)


def test_each_reader_sees_the_chains_of_identities_they_may_view(cast, client_factory, chains):
    analyst = text(client_factory(cast.security_analyst))
    assert "triage plain" in analyst and "orchestrator run" in analyst and "invoke_agent triage" in analyst
    stranger = PersonFactory(username="other-owner", roles=["identity_owner"])
    assert "triage plain" not in text(client_factory(stranger))
    assert "No chains yet" in text(client_factory(stranger))


def test_a_row_says_steps_errors_denials_and_widening(cast, client_factory, chains):
    page = text(client_factory(cast.security_analyst))
    row = page[page.index(f'id="chain-{chains["widening"]}"') :]
    row = row[: row.index("</tr>")]
    assert "3 steps" in row and "widened" in row and "/alerts/" in row
    failing = page[page.index(f'id="chain-{chains["failing"]}"') :]
    assert "Error" in failing[: failing.index("</tr>")]


def test_filters_by_identity_outcome_and_widened(cast, client_factory, estate, chains):
    client = client_factory(cast.security_analyst)
    mine = text(client, f"?identity={estate.orchestrator.uuid}")
    assert "orchestrator run" in mine and "triage plain" not in mine
    failing = text(client, "?outcome=error")
    assert "triage failing" in failing and "triage plain" not in failing
    fine = text(client, "?outcome=ok")
    assert "triage plain" in fine and "triage failing" not in fine
    widened = text(client, "?widened=yes")
    assert f"chain-{chains['widening']}" in widened and "triage plain" not in widened
    assert f"chain-{chains['widening']}" not in text(client, "?widened=no")
    assert client.get("/events/chains/?outcome=nonsense").status_code == 400


def test_denied_calls_of_the_trace_count_and_filter(cast, client_factory, estate, keys, chains):
    token = access_token(task="listed")["access_token"]
    trace, top = trace_id(), span_id()
    refused = decide(estate.credential, token, tool="vault.read_secret", traceparent=f"00-{trace}-{top}-01")
    assert refused.status_code == 200 and "decision_id" in refused.json()
    post_events(keys.all, [event(identity=str(estate.agent.uuid), trace_id=trace, span_id=top, name="denied run",
                                 tool=None, action=None)])  # fmt: skip
    denied = text(client_factory(cast.security_analyst), "?outcome=denied")
    assert "denied run" in denied and "triage plain" not in denied


def test_the_workflow_filter_keeps_a_shared_identitys_workflows_apart(cast, client_factory, estate, keys, chains):
    """A chain sent with a task's token belongs to the task's workflow; one without a task to every workflow its
    identity serves."""
    billing = Workflow.objects.create(name="billing")
    registry.workflow_attach(identity=estate.agent, workflow=billing, actor=cast.identity_owner)
    token = access_token(task="billing-run")["access_token"]
    Task.objects.filter(identity=estate.agent, name="billing-run").update(workflow=billing)
    trace, top = trace_id(), span_id()
    assert post_events(token, [event(trace_id=trace, span_id=top, name="billing by task", tool=None,
                                     action=None)]).json()["accepted"] == 1  # fmt: skip
    client = client_factory(cast.security_analyst)
    support = Workflow.objects.get(name="support-intake")
    under_support = text(client, f"?workflow={support.uuid}")
    assert "triage plain" in under_support and "billing by task" not in under_support
    assert "orchestrator run" not in under_support
    under_billing = text(client, f"?workflow={billing.uuid}")
    assert "billing by task" in under_billing and "triage plain" in under_billing  # no task: both workflows


def test_the_list_reads_a_fixed_number_of_queries(cast, client_factory, estate, keys, chains,
                                                  django_assert_max_num_queries):  # fmt: skip
    client = client_factory(cast.security_analyst)
    text(client)
    with django_assert_max_num_queries(12):
        text(client)
    for n in range(30):
        chain(keys.all, estate.agent, name=f"more {n}", error=bool(n % 2))
    with django_assert_max_num_queries(12):
        assert "more 29" in text(client)
