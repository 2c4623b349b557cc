"""The evaluator over events written by real ingest: the widening chain raises its alerts once however often it
runs, a worker killed mid-batch resumes without raising anything twice, events of a transaction still open are
not read past, late spans reopen their trace, and high-severity alerts go to the outbox once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection

from agentiam.models import OutboxMessage
from audit.alerts import evaluate
from audit.alerts.evaluate import evaluate_new_events
from audit.alerts.models import Alert, DetectorCursor
from audit.events.models import ActionEvent
from tests.alerts.support import sensitive_secrets, widening_chain
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.support import database_url

pytestmark = pytest.mark.django_db


def raised() -> list[tuple[str, str]]:
    return sorted(Alert.objects.values_list("rule", "scope"))


def test_the_widening_chain_raises_its_alerts_once_however_often_the_evaluator_runs(estate, keys, settings):
    sensitive_secrets()
    trace = widening_chain(estate, keys.all)
    first = evaluate_new_events()
    assert first.events == 3 and first.alerts == 2
    assert raised() == [("outside_entitlement", f"trace:{trace}"), ("privilege_widening", f"trace:{trace}")]
    widened = Alert.objects.get(rule="privilege_widening")
    assert widened.severity == "critical" and widened.identity == estate.agent and widened.trace_id == trace
    assert len(widened.event_ids) == 2 and "vault.read_secret" in widened.title
    assert evaluate_new_events().events == 0
    # Even with the high-water mark wound back (a restore, a replay): nothing twice.
    DetectorCursor.objects.update(done_id=0)
    again = evaluate_new_events()
    assert again.events == 3 and again.alerts == 0 and Alert.objects.count() == 2
    # The critical one goes to the analysts by e-mail (no webhook URL is set), once; the medium one does not.
    mails = OutboxMessage.objects.filter(kind="email", dedupe_key__startswith="alert-email:")
    assert list(mails.values_list("dedupe_key", flat=True)) == [f"alert-email:{widened.uuid}"]


def test_a_worker_killed_mid_batch_resumes_and_raises_each_alert_exactly_once(estate, keys, monkeypatch):
    sensitive_secrets()
    traces = [widening_chain(estate, keys.all) for _ in range(4)]  # 12 events, ids in four groups of three
    calls = []

    def crash(summary):
        calls.append(summary)
        if len(calls) == 2:
            raise DatabaseError("worker killed")  # inside the second batch's transaction: it never commits

    first = ActionEvent.objects.order_by("id").values_list("id", flat=True)[0]
    DetectorCursor.objects.create(name="detectors", done_id=first - 1)  # batches start at the first event
    monkeypatch.setattr(evaluate, "_after_batch_writes", crash)
    with pytest.raises(DatabaseError):
        evaluate_new_events(batch=4)
    survived = DetectorCursor.objects.get().done_id  # batches of four sequence values: only the first stands
    evaluated = ActionEvent.objects.filter(id__lte=survived).count()
    assert evaluated == 4 and len(calls) == 2
    monkeypatch.setattr(evaluate, "_after_batch_writes", None)
    resumed = evaluate_new_events(batch=4)
    assert resumed.events == 8  # the rest, the rolled-back batch included
    widened = Alert.objects.filter(rule="privilege_widening")
    assert sorted(widened.values_list("trace_id", flat=True)) == sorted(traces)
    assert Alert.objects.count() == 8 and len(set(raised())) == 8


def test_an_id_drawn_by_a_transaction_still_open_holds_the_evaluator_back(estate, keys):
    sensitive_secrets()
    with psycopg.connect(database_url()) as other:
        other.execute("SELECT nextval('audit_events_actionevent_id_seq')")  # an ingest batch mid-COPY
        widening_chain(estate, keys.all)  # committed after it, with higher ids
        held = evaluate_new_events()
        assert held.events == 0 and Alert.objects.count() == 0
        assert DetectorCursor.objects.get().mark_id is not None
        other.rollback()
    assert evaluate_new_events().events == 3 and Alert.objects.count() == 2


def test_a_late_span_reopens_its_trace_and_is_judged_with_the_earlier_steps(estate, keys):
    sensitive_secrets()
    trace, root = trace_id(), span_id()
    mine, start = str(estate.agent.uuid), datetime.now(UTC) - timedelta(minutes=5)
    post_events(
        keys.all,
        [
            event(identity=mine, trace_id=trace, span_id=root, tool=None, action=None, started_at=start.isoformat()),
            event(
                identity=mine,
                trace_id=trace,
                parent_span_id=root,
                started_at=(start + timedelta(seconds=1)).isoformat(),
            ),
        ],
    )
    assert evaluate_new_events().alerts == 0
    late = event(
        identity=mine,
        trace_id=trace,
        parent_span_id=root,
        tool="vault.read_secret",
        action="read",
        started_at=(start + timedelta(seconds=2)).isoformat(),
    )
    post_events(keys.all, [late])
    assert evaluate_new_events().events == 1
    assert Alert.objects.filter(rule="privilege_widening", trace_id=trace).count() == 1


def test_a_tool_never_used_before_once_the_baseline_is_established(estate, keys, settings):
    settings.ALERTS_WARMUP_DAYS = 0
    mine = str(estate.agent.uuid)
    past = datetime.now(UTC) - timedelta(hours=3)
    post_events(keys.all, [event(identity=mine, started_at=past.isoformat())])
    assert evaluate_new_events().alerts == 0  # the first activity on record: nothing to compare with
    post_events(keys.all, [event(identity=mine, tool="github.create_pull_request", action="read")])
    evaluate_new_events()
    assert Alert.objects.filter(rule="new_tool").count() == 1
    assert connection.in_atomic_block  # the test's own transaction: the evaluator read through it


def test_a_gap_in_the_sequence_is_crossed_in_one_step(estate, keys):
    sensitive_secrets()
    with connection.cursor() as cursor:  # ids drawn and never used: rolled-back batches, skipped duplicates
        cursor.execute(
            "SELECT setval('audit_events_actionevent_id_seq', nextval('audit_events_actionevent_id_seq') + 50000)"
        )
    widening_chain(estate, keys.all)
    done = evaluate_new_events(batch=10)
    assert done.events == 3 and done.batches <= 3 and Alert.objects.count() == 2
