"""The workflow page (issue 12 item 5): everything done under one workflow — identities (fan-out flagged),
tasks, chains, gateway decisions, grants and tokens — with the actions of an identity shared by two workflows
kept apart by task; who may open it; a fixed number of queries whatever it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identities import services as registry
from identities.models import Task, Workflow
from tests.cast import check_access
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.factories import GrantFactory, PersonFactory
from tests.runtime_support import access_token, decide

pytestmark = pytest.mark.django_db
SEE_ALL = ("administrator", "compliance_officer", "security_analyst", "auditor")


def run(credential, name, **fields):
    trace, top = trace_id(), span_id()
    start = datetime.now(UTC) - timedelta(minutes=3)
    batch = [
        event(trace_id=trace, span_id=top, name=name, tool=None, action=None, started_at=start.isoformat(), **fields),
        event(trace_id=trace, parent_span_id=top, name=f"{name}: read", started_at=start.isoformat(), **fields),
    ]
    assert post_events(credential, batch).json()["accepted"] == 2
    return trace, top


@pytest.fixture
def workflows(estate, keys, cast):
    """The triage agent serves support and billing; a billing task's token, decision, grant and chain, a support
    task's chain, and a chain sent with no task at all."""
    support = Workflow.objects.create(name="support-intake", description="Tickets in")
    billing = Workflow.objects.create(name="billing")
    for workflow in (support, billing):
        registry.workflow_attach(identity=estate.agent, workflow=workflow, actor=cast.identity_owner)
    registry.workflow_attach(identity=estate.orchestrator, workflow=support, actor=cast.identity_owner)
    tokens = {}
    for task, workflow in (("billing-run", billing), ("support-run", support)):
        tokens[task] = access_token(task=task)["access_token"]
        Task.objects.filter(identity=estate.agent, name=task).update(workflow=workflow)
    trace, top = run(tokens["billing-run"], "billing chain")
    decide(estate.credential, tokens["billing-run"], traceparent=f"00-{trace}-{top}-01")
    run(tokens["support-run"], "support chain")
    run(keys.all, "taskless chain", identity=str(estate.agent.uuid))
    GrantFactory(identity=estate.agent, task=Task.objects.get(name="billing-run"), reason="month end")
    return support, billing


def page(client, workflow):
    answer = client.get(f"/workflows/{workflow.uuid}/")
    assert answer.status_code == 200, answer.status_code
    return answer.content.decode()


def test_who_may_open_a_workflow(cast, client_factory, workflows):
    other_owner = PersonFactory(username="other-owner", roles=["identity_owner"])
    check_access(
        client_factory, f"/workflows/{workflows[1].uuid}/", cast=cast,
        allowed=["identity_owner", "manager", *SEE_ALL], object_denied=[other_owner],
    )  # fmt: skip
    assert client_factory(cast.security_analyst).get(f"/workflows/{Workflow().uuid}/").status_code == 404


def test_a_shared_identitys_work_stays_under_the_workflow_of_its_task(cast, client_factory, workflows):
    support, billing = workflows
    client = client_factory(cast.security_analyst)
    billed = page(client, billing)
    assert "billing chain" in billed and "support chain" not in billed
    assert "taskless chain" in billed  # no task: shown under each workflow the identity serves, and said so
    assert "billing-run" in billed and "support-run" not in billed
    assert "github.read_repo" in billed  # the gateway's decision for the billing task
    assert "github.read_repo:read" in billed  # the billing task's token
    assert "Identity fan-out" in billed and "serves 2 workflows" in billed
    assert billed.count("<tr") >= 6
    supported = page(client, support)
    assert "support chain" in supported and "billing chain" not in supported and "orchestrator" in supported
    assert "No JIT grant for this workflow" in supported and "No JIT grant for this workflow" not in billed


def test_an_owner_sees_only_the_identities_they_may_view(cast, client_factory, estate, workflows):
    support = workflows[0]
    stranger = PersonFactory(username="stranger-owner", roles=["identity_owner"])
    mine = registry.identity_create(
        actor=stranger, accountable_owner=stranger, kind="agent", name="strangers-agent", environment="dev",
        exposure="internal",
    )  # fmt: skip
    registry.workflow_attach(identity=mine, workflow=support, actor=stranger)
    text = page(client_factory(stranger), support)
    assert "strangers-agent" in text and "triage-bot" not in text and "support chain" not in text


def test_the_identity_page_links_its_workflows(cast, client_factory, estate, workflows):
    text = client_factory(cast.security_analyst).get(f"/identities/{estate.agent.uuid}/").content.decode()
    assert f"/workflows/{workflows[0].uuid}/" in text and f"/workflows/{workflows[1].uuid}/" in text


def test_the_page_reads_a_fixed_number_of_queries(cast, client_factory, estate, keys, workflows,
                                                  django_assert_max_num_queries):  # fmt: skip
    billing = workflows[1]
    client = client_factory(cast.security_analyst)
    page(client, billing)
    with django_assert_max_num_queries(16):
        page(client, billing)
    token = access_token(task="billing-run")["access_token"]
    for n in range(8):
        run(token, f"more {n}")
        GrantFactory(identity=estate.agent, task=Task.objects.get(name="billing-run"))
    with django_assert_max_num_queries(16):
        assert "more 7" in page(client, billing)
