"""The demo's action chains (issue 12 item 8): seed_demo sends what the demo agents did through the real ingest
view (OTLP/HTTP JSON on POST /v1/traces, a demo ingest key scoped to the demo agents) and runs the detectors, so
a fresh `make run` shows chains, the widening chain's page and its alert. Sent once: a re-run adds nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from audit.alerts.models import Alert
from audit.events import seeds
from audit.events.models import ActionEvent, IngestKey
from audit.events.reading import load_chain
from audit.models import AuditEntry
from identities.models import Identity
from identities.runtime.models import PolicyDecision

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_the_widening_chain_arrives_through_ingest_as_one_step_per_tool_call(seeded, cast):
    assert "Action chains: 5 demo traces" in seeded
    key = IngestKey.objects.get(name=seeds.KEY_NAME)
    assert not key.all_identities and key.identities.count() == len(seeds.AGENTS)
    assert AuditEntry.objects.filter(action="ingest_key.create", object_label__contains="Demo collector").exists()
    triage = Identity.objects.get(name="triage-bot")
    trace = seeds.trace_of(seeds.WIDENING)
    steps = list(ActionEvent.objects.filter(trace_id=trace))
    assert len(steps) == 6  # invoke_agent, two chats, three tool calls (each reported by three spans)
    assert {s.identity_id for s in steps} == {triage.pk} and {s.ingest_key_id for s in steps} == {key.pk}
    assert {s.source for s in steps} == {"otlp"}
    calls = {s.tool_key: s for s in steps if s.tool_key}
    assert set(calls) == {"jira.search_issues", "slack.read_channel", "github.manage_secrets"}
    secret = calls["github.manage_secrets"]
    assert (secret.action, secret.outcome, len(secret.folded_span_ids)) == ("write", "error", 2)
    assert secret.resource == {"repo": "acme/payments-api", "secret": "DEPLOY_KEY"}

    chain = load_chain(cast.security_analyst, trace)
    joined = {s.tool_key: s.decision.decision for s in chain.steps if s.decision is not None}
    assert joined == {"jira.search_issues": "allow", "github.manage_secrets": "deny"}
    assert all(s.kind == "event" for s in chain.steps)  # every decision sits on its step
    assert chain.depth == 1 and chain.denied == 1 and chain.errors == 1


def test_the_other_chains_hand_off_fail_and_wait_in_quarantine(seeded):
    handoff = ActionEvent.objects.filter(trace_id=seeds.trace_of("refund-handoff"))
    names = set(Identity.objects.filter(pk__in=handoff.values("identity_id")).values_list("name", flat=True))
    assert names == {"refund-assistant", "refund-policy-checker"}
    metrics = ActionEvent.objects.filter(trace_id=seeds.trace_of("weekly-metrics"), tool_key="warehouse.query")
    assert metrics.count() == 3 and metrics.filter(outcome="error", error_type="tool_error").count() == 1
    [waiting] = ActionEvent.objects.filter(trace_id=seeds.trace_of("unregistered"))
    assert waiting.identity_id is None and waiting.quarantine == "unknown_identity"
    assert waiting.claimed["agent_name"] == "pricing-experiment"


def test_the_widening_chain_raises_its_alert(seeded):
    assert "Alerts: the detectors read" in seeded
    trace = seeds.trace_of(seeds.WIDENING)
    alert = Alert.objects.get(rule="privilege_widening", trace_id=trace)
    assert alert.identity.name == "triage-bot" and alert.severity == "critical" and alert.state == "open"
    assert "github.manage_secrets" in alert.title
    assert not Alert.objects.filter(rule="privilege_widening").exclude(trace_id=trace).exists()


def test_seed_demo_again_sends_nothing_twice(seeded):
    counts = (ActionEvent.objects.count(), Alert.objects.count(), PolicyDecision.objects.count(),
              IngestKey.objects.count())  # fmt: skip
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert (ActionEvent.objects.count(), Alert.objects.count(), PolicyDecision.objects.count(),
            IngestKey.objects.count()) == counts  # fmt: skip
    assert "Action chains" not in out.getvalue()


def test_after_seeding_the_chain_list_the_chain_and_the_alert_list_show_data(seeded, cast, client_factory):
    client = client_factory(cast.security_analyst)
    listed = client.get("/events/chains/").content.decode()
    assert "invoke_agent triage-bot" in listed and "invoke_agent code-review-agent" in listed and "widened" in listed
    trace = seeds.trace_of(seeds.WIDENING)
    page = client.get(f"/events/chains/{trace}/").content.decode()
    assert "github.manage_secrets" in page and "chain-denied" in page
    assert "Widens from jira.search_issues to github.manage_secrets" in client.get("/alerts/").content.decode()
