"""What time does to an open campaign: reminder digests (one per reviewer per reminder, none to reviewers who are
done), escalation after N days, the no-answer outcome at the deadline (keep, revoke, escalate) exactly once,
re-routing when a reviewer leaves, revoked-elsewhere items — each safe to run twice (the beat task runs twice in
every test; `test_beat_restart` does it with real beat and worker processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from agentiam import outbox
from agentiam.models import OutboxMessage
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Entitlement, Profile
from identities.runtime.services import entitlement_revoke
from reviews.models import ReviewItem, ReviewReminder
from reviews.services.cadence import campaigns_tick
from reviews.services.fulfilment import KIND
from reviews.tasks import campaign_cadence
from tests.cast import make_person
from tests.factories import EntitlementFactory, IdentityFactory, ToolFactory
from tests.reviews.campaign_support import decide, item_for, open_run
from tests.support import ROOT, child_env, start_worker, wait_until


def grants(identity, n: int, granted_by=None) -> list[Entitlement]:
    return [EntitlementFactory(identity=identity, tool=ToolFactory(), granted_by=granted_by) for _ in range(n)]


def mails_to(person) -> list:
    return [message for message in mail.outbox if person.email in message.to]


@pytest.fixture
def owners(cast):
    """Two owners (reporting to cast.manager), each accountable for one agent with entitlements."""
    alice = make_person("alice", "identity_owner", manager=cast.manager, email="alice@example.com")
    bob = make_person("bob", "identity_owner", manager=cast.manager, email="bob@example.com")
    carol = make_person("carol", "identity_owner", manager=cast.manager, email="carol@example.com")
    return {name: (person, IdentityFactory(owner=person)) for name, person in
            (("alice", alice), ("bob", bob), ("carol", carol))}  # fmt: skip


# --- reminders ---------------------------------------------------------------------------------------------------


def test_one_reminder_digest_per_reviewer_per_reminder_and_none_for_reviewers_who_are_done(owners, settings):
    run = open_run(days_left=2, reminder_days=[7, 3, 1])
    (alice, a_agent), (bob, b_agent), (carol, c_agent) = owners["alice"], owners["bob"], owners["carol"]
    for entitlement in grants(a_agent, 3):
        item_for(run, entitlement, alice)
    bob_items = [item_for(run, entitlement, bob) for entitlement in grants(b_agent, 2)]
    decide(bob_items[0], "certify")
    decide(item_for(run, grants(c_agent, 1)[0], carol), "certify")  # carol is done

    campaign_cadence()
    campaign_cadence()  # a duplicate delivery, a second beat: nothing more
    outbox.deliver_due()
    assert len(mails_to(alice)) == 1 and len(mails_to(bob)) == 1 and not mails_to(carol)
    body = mails_to(alice)[0].body
    assert body.count(a_agent.name) == 3 and "/reviews/" in body and "Reminder" in mails_to(alice)[0].subject
    assert mails_to(bob)[0].body.count(b_agent.name) == 1  # only what still waits
    reminders = ReviewReminder.objects.filter(run=run, kind="reminder")
    assert sorted(reminders.values_list("reviewer__username", "number", "items")) == [("alice", 3, 3), ("bob", 3, 1)]

    # The next reminder (1 day before) is one more digest each, once; the 7-day one is never sent late.
    later = run.due_at - timedelta(hours=12)
    campaigns_tick(now=later)
    campaigns_tick(now=later)
    outbox.deliver_due()
    assert len(mails_to(alice)) == 2 and len(mails_to(bob)) == 2 and not mails_to(carol)
    assert not reminders.filter(number=7).exists()
    entries = AuditEntry.objects.filter(action="campaign_run.cadence", object_id=str(run.uuid))
    assert [sorted(e.changes["reminded"]) for e in entries.order_by("pk")] == [[alice.pk, bob.pk]] * 2


def test_no_reminder_before_the_first_reminder_day(owners):
    run = open_run(days_left=10, reminder_days=[3])
    alice, agent = owners["alice"]
    item_for(run, grants(agent, 1)[0], alice)
    assert campaigns_tick() == {}
    assert not ReviewReminder.objects.exists() and not OutboxMessage.objects.exists()


# --- escalation --------------------------------------------------------------------------------------------------


def test_items_still_pending_after_n_days_escalate_once_to_the_owners_manager(owners, cast):
    run = open_run(days_left=10, started_days_ago=4, escalate_after_days=3)
    alice, agent = owners["alice"]
    pending = item_for(run, grants(agent, 1)[0], alice)
    done = decide(item_for(run, grants(agent, 1)[0], alice), "certify")
    campaign_cadence()
    campaign_cadence()
    pending.refresh_from_db()
    assert (pending.reviewer, pending.routed_via, pending.reassigned_from) == (cast.manager, "escalated", alice)
    assert pending.escalated_at is not None
    assert ReviewItem.objects.get(pk=done.pk).reviewer == alice  # a decided item stays where it is
    assert ReviewReminder.objects.filter(kind="escalation", reviewer=cast.manager).count() == 1
    assert OutboxMessage.objects.filter(kind="email", destination=cast.manager.email).count() == 1


def test_escalation_skips_whom_separation_of_duties_bars_and_stops_at_the_top(owners, cast):
    """The owner's manager granted the entitlement of an independent item: it goes to the fallback group."""
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="access-reviewers")
    member = make_person("fallback-reviewer", "manager")
    member.groups.add(group)
    run = open_run(days_left=10, started_days_ago=4, escalate_after_days=3, fallback_group_id=group.pk)
    alice, agent = owners["alice"]
    write_tool = ToolFactory(actions=["read", "write"])
    privileged = EntitlementFactory(identity=agent, tool=write_tool, action="write", granted_by=cast.manager)
    item = item_for(run, privileged, alice)
    campaigns_tick()
    item.refresh_from_db()
    assert (item.reviewer, item.routed_via) == (member, "escalated")
    # At the top of the chain nothing moves again, however often the task runs.
    campaigns_tick()
    campaigns_tick(now=timezone.now() + timedelta(days=1))
    assert ReviewItem.objects.get(pk=item.pk).reviewer == member


# --- the deadline ------------------------------------------------------------------------------------------------


def test_the_revoke_outcome_is_applied_at_the_deadline_exactly_once_and_fulfilled(owners, cast):
    run = open_run(days_left=-1, stages=[{"number": 1, "no_answer_outcome": "revoke"}])
    alice, agent = owners["alice"]
    entitlements = grants(agent, 3, granted_by=cast.administrator)
    missed = [item_for(run, e, alice) for e in entitlements[:2]]
    kept = decide(item_for(run, entitlements[2], alice), "certify")
    campaign_cadence()
    campaign_cadence()
    for item in missed:
        item.refresh_from_db()
        assert (item.state, item.decision, item.decided_via, item.decided_by) == (
            "decided",
            "revoke",
            "no_answer",
            None,
        )
    assert ReviewItem.objects.get(pk=kept.pk).decided_via == "reviewer"
    assert OutboxMessage.objects.filter(kind=KIND).count() == 1  # one chunk for both
    outbox.deliver_due()
    campaign_cadence()
    assert ReviewItem.objects.filter(pk__in=[i.pk for i in missed], state="fulfilled").count() == 2
    for entitlement in entitlements[:2]:
        assert AuditEntry.objects.filter(action="entitlement.revoke", object_id=str(entitlement.uuid)).count() == 1
    assert Entitlement.objects.get(pk=entitlements[2].pk).revoked_at is None
    deadline = AuditEntry.objects.filter(action="campaign_run.cadence", changes__has_key="deadline")
    assert [e.changes["deadline"] for e in deadline] == [{"outcome": "revoke", "items": 2}]


def test_the_keep_outcome_certifies_what_nobody_answered_and_revokes_nothing(owners):
    run = open_run(days_left=-1, stages=[{"number": 1, "no_answer_outcome": "keep"}])
    alice, agent = owners["alice"]
    item = item_for(run, grants(agent, 1)[0], alice)
    campaigns_tick()
    campaigns_tick()
    item.refresh_from_db()
    assert (item.state, item.decision, item.decided_via, item.fulfilment_status) == (
        "decided",
        "certify",
        "no_answer",
        "",
    )
    assert not OutboxMessage.objects.filter(kind=KIND).exists()


def test_the_escalate_outcome_hands_the_item_up_once_and_leaves_it_pending(owners, cast):
    run = open_run(days_left=-1, stages=[{"number": 1, "no_answer_outcome": "escalate"}])
    alice, agent = owners["alice"]
    item = item_for(run, grants(agent, 1)[0], alice)
    campaigns_tick()
    campaigns_tick()
    campaigns_tick(now=timezone.now() + timedelta(days=2))
    item.refresh_from_db()
    assert (item.state, item.reviewer, item.routed_via) == ("pending", cast.manager, "escalated")
    assert AuditEntry.objects.filter(action="campaign_run.cadence", changes__has_key="deadline").count() == 1


# --- reviewers who leave, access revoked elsewhere ------------------------------------------------------------


def test_a_reviewer_who_leaves_has_their_pending_items_re_routed(owners, cast):
    run = open_run()
    alice, agent = owners["alice"]
    pending = item_for(run, grants(agent, 1)[0], alice)
    done = decide(item_for(run, grants(agent, 1)[0], alice), "certify")
    registry.person_disable(actor=cast.administrator, profile=Profile.objects.get(user=alice), status="departed",
                            reason="left the company")  # fmt: skip
    campaigns_tick()
    campaigns_tick()
    pending.refresh_from_db()
    assert (pending.reviewer, pending.routed_via, pending.reassigned_from) == (cast.manager, "rerouted", alice)
    assert ReviewItem.objects.get(pk=done.pk).reviewer == alice
    entry = AuditEntry.objects.get(action="campaign_run.cadence", changes__has_key="rerouted")
    assert entry.changes["rerouted"] == [{"item": str(pending.uuid), "from": alice.pk, "to": cast.manager.pk}]
    assert entry.actor_kind == "job"


def test_an_item_whose_entitlement_was_revoked_elsewhere_counts_as_done(owners):
    run = open_run()
    alice, agent = owners["alice"]
    entitlement = grants(agent, 1)[0]
    item = item_for(run, entitlement, alice)
    entitlement_revoke(entitlement=entitlement, actor=alice, reason="not needed")
    campaigns_tick()
    item.refresh_from_db()
    assert (item.state, item.decided_via, item.decision) == ("fulfilled", "elsewhere", "")
    assert item.decided_at == Entitlement.objects.get(pk=entitlement.pk).revoked_at


# --- real beat and worker processes, beat restarted in between -----------------------------------------------


def start_beat(env: dict, log) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "agentiam", "beat", "--loglevel", "INFO",
             "--pidfile", str(log.with_suffix(".pid"))],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def ticks(log) -> int:
    return log.read_text().count("Task reviews.tasks.campaign_cadence[")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_restart_the_no_answer_outcome_is_applied_once_with_beat_restarted_in_between(
    owners, cast, tmp_path, redis_client
):
    run = open_run(days_left=-1, stages=[{"number": 1, "no_answer_outcome": "revoke"}])
    alice, agent = owners["alice"]
    entitlements = grants(agent, 2, granted_by=cast.administrator)
    items = [item_for(run, entitlement, alice) for entitlement in entitlements]
    env = child_env(REVIEWS_CAMPAIGN_TICK="5")
    worker_log, first_log, second_log = tmp_path / "worker.log", tmp_path / "beat-1.log", tmp_path / "beat-2.log"
    worker = start_worker(env, worker_log)
    beat = None
    try:
        beat = start_beat(env, first_log)
        wait_until(lambda: ReviewItem.objects.filter(pk__in=[i.pk for i in items], state="fulfilled").count() == 2,
                   timeout=120, what="the deadline's revoke, fulfilled by the worker")  # fmt: skip
        stop(beat)
        before = ticks(worker_log)
        beat = start_beat(env, second_log)  # the same schedule, read back from PostgreSQL
        wait_until(lambda: ticks(worker_log) >= before + 2, timeout=90, what="two ticks after the restart")
    finally:
        if beat is not None and beat.poll() is None:
            stop(beat)
        stop(worker)
    assert "DatabaseScheduler" in first_log.read_text() and "DatabaseScheduler" in second_log.read_text()
    for entitlement in entitlements:
        assert AuditEntry.objects.filter(action="entitlement.revoke", object_id=str(entitlement.uuid)).count() == 1
    deadline = AuditEntry.objects.filter(action="campaign_run.cadence", changes__has_key="deadline")
    assert [entry.changes["deadline"] for entry in deadline] == [{"outcome": "revoke", "items": 2}]
    assert OutboxMessage.objects.filter(kind=KIND).count() == 1
    assert ReviewItem.objects.filter(run=run, decided_via="no_answer").count() == 2
