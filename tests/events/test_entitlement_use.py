"""Entitlements' last use and daily use (issue 12 item 3), counted by audit.events.usage from allow decisions
and from events sent with the identity's own task token — never from an ingest key alone — in batches that a
re-run never counts twice and that wait for rows still being written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from audit.events.models import UsageCursor
from audit.events.tasks import count_entitlement_use
from audit.events.usage import count_new_use
from identities.models import Entitlement, EntitlementUsage
from identities.runtime.models import PolicyDecision
from tests.events.conftest import event, post_events, span_id, trace_id
from tests.runtime_support import access_token, decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_repo(estate):
    return Entitlement.objects.get(identity=estate.agent, tool=estate.read_repo, action="read")


def usage(entitlement) -> list[tuple]:
    return list(EntitlementUsage.objects.filter(entitlement=entitlement).values_list("day", "count", "last_used_at"))


def test_an_allow_decision_counts_once_however_often_the_counter_runs(estate, read_repo):
    token = access_token(task="use-1")["access_token"]
    allowed = decide(estate.credential, token).json()
    decide(estate.credential, token, resource={"repo": "globex/payroll"})  # denied: outside the scope
    decided_at = PolicyDecision.objects.get(uuid=allowed["decision_id"]).decided_at
    count_new_use()
    count_entitlement_use()  # the beat task, again: nothing new
    assert usage(read_repo) == [(decided_at.astimezone(UTC).date(), 1, decided_at)]
    assert UsageCursor.objects.get(name="decisions").counted == 1


def test_an_event_sent_with_the_identitys_task_token_counts(estate, read_repo):
    token = access_token(task="use-2")["access_token"]
    started = datetime.now(UTC)  # after the grant: use before it is no use of it
    assert post_events(token, [event(started_at=started.isoformat())]).json()["accepted"] == 1
    count_new_use()
    [(_, count, last)] = usage(read_repo)
    assert count == 1 and abs((last - started).total_seconds()) < 0.001


def test_an_ingest_key_alone_never_makes_an_entitlement_look_used(estate, keys, read_repo):
    """Acceptance: events for the agent sent with only an ingest key — even one naming a real allow decision
    and starting after it — leave the entitlement's use as the decisions alone made it."""
    mine = str(estate.agent.uuid)
    later = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    assert post_events(keys.all, [event(identity=mine), event(identity=mine, started_at=later)]).json()["accepted"] == 2
    count_new_use()
    assert usage(read_repo) == []
    token = access_token(task="use-3")["access_token"]
    allowed = decide(estate.credential, token).json()["decision_id"]
    decided_at = PolicyDecision.objects.get(uuid=allowed).decided_at
    forged = event(identity=mine, decision_id=allowed, started_at=later)
    assert post_events(keys.triage, [forged]).json()["accepted"] == 1
    count_new_use()
    assert usage(read_repo) == [(decided_at.astimezone(UTC).date(), 1, decided_at)]


def test_an_event_joined_to_a_decision_is_that_decisions_use_counted_once(estate, read_repo):
    token = access_token(task="use-4")["access_token"]
    trace, span = trace_id(), span_id()
    decide(estate.credential, token, traceparent=f"00-{trace}-{span}-01")
    named = decide(estate.credential, token).json()["decision_id"]
    batch = [event(trace_id=trace, span_id=span), event(decision_id=named)]  # by trace and span; by id
    assert post_events(token, batch).json()["accepted"] == 2
    count_new_use()
    assert [count for _, count, _ in usage(read_repo)] == [2]  # the two decisions, not four


def test_use_outside_any_entitlement_or_after_revocation_counts_nothing(estate, read_repo):
    token = access_token(task="use-5")["access_token"]
    assert post_events(token, [event(tool="github.create_pull_request", action="write")]).json()["accepted"] == 1
    count_new_use()
    assert not EntitlementUsage.objects.filter(entitlement__identity=estate.agent).exists()


def test_a_row_still_being_written_holds_the_counter_back(estate, read_repo):
    """An ingest transaction that took an id and has not committed: events with later ids wait for it (COPY
    batches commit out of order), then count."""
    db = connection.settings_dict
    other = psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                            password=db["PASSWORD"] or None)  # fmt: skip
    try:
        other.execute("SELECT nextval('audit_events_actionevent_id_seq')")  # an open transaction holding an id
        token = access_token(task="use-6")["access_token"]
        assert post_events(token, [event()]).json()["accepted"] == 1
        count_new_use()
        assert usage(read_repo) == []
        other.rollback()
        count_new_use()
        assert [count for _, count, _ in usage(read_repo)] == [1]
    finally:
        other.close()
    count_new_use()
    assert [count for _, count, _ in usage(read_repo)] == [1]


def test_the_identity_page_shows_the_counted_use(cast, client_factory, estate, read_repo):
    token = access_token(task="use-7")["access_token"]
    decide(estate.credential, token)
    decide(estate.credential, token)
    count_new_use()
    text = client_factory(cast.identity_owner).get(f"/identities/{estate.agent.uuid}/").content.decode()
    assert "2 uses in 30 days" in text and "No usage reported" not in text
