"""Break-glass: an owner's emergency self-grant (capped, one active per identity, production secrets only where
a rule allows, approvers and security told at once) and its after-the-fact review, which neither the person
nor an owner may close — the database refuses them too."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied
from agentiam.models import OutboxMessage
from audit.models import AuditEntry
from identities.models import Entitlement, Grant
from identities.runtime.services.ending import grant_end, task_end
from reviews.models import ApprovalRule, BreakGlass
from reviews.services.breakglass import break_glass_close, break_glass_escalate, break_glass_start, overdue
from reviews.tasks import escalate_break_glass
from tests.factories import BreakGlassFactory, OwnershipFactory, ToolFactory, UserFactory

WRITE = ["github.create_pull_request:write"]


def start(estate, **kwargs):
    options = {"identity": estate.agent, "actor": estate.cast.identity_owner, "scopes": WRITE,
               "reason": "production is down", "task": "incident-42", **kwargs}  # fmt: skip
    return break_glass_start(**options)


@pytest.mark.django_db
def test_an_owner_breaks_the_glass_and_gets_a_capped_grant_on_the_task_with_approvers_and_security_told(estate):
    row = start(estate)
    grant = Grant.objects.get(pk=row.grant_id)
    assert grant.task.name == "incident-42"
    assert timedelta(minutes=59) < grant.ends_at - grant.starts_at <= timedelta(hours=1)
    assert list(Entitlement.objects.filter(grant=grant).values_list("tool__key", "action")) == [
        ("github.create_pull_request", "write")
    ]
    message = OutboxMessage.objects.get(dedupe_key=f"reviews.break_glass:{row.uuid}")
    assert estate.cast.manager.email in message.payload["to"]
    assert estate.cast.security_analyst.email in message.payload["to"]
    assert estate.cast.identity_owner.email not in message.payload["to"]
    entry = AuditEntry.objects.filter(action="break_glass.start").get()
    assert entry.changes["reason"] == "production is down"


@pytest.mark.django_db
def test_only_a_current_owner_may_break_the_glass(estate):
    for person in (estate.cast.administrator, estate.cast.manager, estate.cast.security_analyst, UserFactory()):
        with pytest.raises(PermissionDenied, match="current owner"):
            start(estate, actor=person)
    assert not BreakGlass.objects.exists() and not Grant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 2001}, "reason"),
        ({"reason": "bad\x00"}, "reason"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"duration_seconds": 3601}, "duration_seconds"),
        ({"scopes": ["nope:write"]}, "scopes"),
        ({"scopes": "github.create_pull_request:write"}, "scopes"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(estate, changes, field):
    with pytest.raises(Exception) as raised:
        start(estate, **changes)
    assert field in raised.value.message_dict
    assert not BreakGlass.objects.exists() and not Grant.objects.exists()


@pytest.mark.django_db
def test_the_cap_is_configurable_down(estate, settings):
    settings.REVIEWS_BREAK_GLASS_MAX_SECONDS = 900
    with pytest.raises(Exception) as raised:
        start(estate, duration_seconds=1800)
    assert "duration_seconds" in raised.value.message_dict
    row = start(estate)
    assert timedelta(seconds=890) < row.ends_at - row.started_at <= timedelta(seconds=900)


@pytest.mark.django_db
def test_the_database_refuses_a_break_glass_past_an_hour_or_without_a_reason():
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlassFactory(ends_at=timezone.now() + timedelta(hours=2))
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlassFactory(reason="   ")


@pytest.mark.django_db
def test_one_active_per_identity_and_a_new_one_once_the_grant_ended(estate):
    first = start(estate)
    with pytest.raises(Conflict, match="already active"):
        start(estate, task="incident-43")
    grant_end(grant=first.grant, actor=estate.cast.security_analyst, reason="fixed")
    second = start(estate, task="incident-43")
    first.refresh_from_db()
    assert first.superseded_at is not None and second.superseded_at is None
    task_end(task=second.task, actor=estate.cast.identity_owner)
    assert Grant.objects.get(pk=second.grant_id).ended_at is not None


@pytest.mark.django_db
def test_the_database_holds_one_active_break_glass_per_identity():
    row = BreakGlassFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlassFactory(identity=row.identity)


@pytest.mark.django_db(transaction=True)
def test_two_owners_breaking_the_glass_at_once_make_one(estate):
    second_owner = UserFactory()
    OwnershipFactory(identity=estate.agent, person=second_owner, role="technical")
    for round_ in range(20):
        barrier, outcomes = threading.Barrier(2), [None, None]

        def run(index, person, round_=round_, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait(10)
                outcomes[index] = start(estate, actor=person, task=f"race-{round_}-{index}")
            except Exception as error:
                outcomes[index] = error
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(i, p))
                   for i, p in enumerate([estate.cast.identity_owner, second_owner])]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        made = [o for o in outcomes if isinstance(o, BreakGlass)]
        assert len(made) == 1 and isinstance(next(o for o in outcomes if o not in made), Conflict), outcomes
        assert BreakGlass.objects.filter(identity=estate.agent, superseded_at__isnull=True).count() == 1
        grant_end(grant=made[0].grant, actor=estate.cast.security_analyst, reason="round over")


@pytest.mark.django_db
def test_production_secret_tools_are_left_out_unless_a_rule_allows_break_glass(estate):
    ToolFactory(key="github.rotate_secrets", actions=["admin"], production_secrets=True)
    with pytest.raises(Exception) as raised:
        start(estate, scopes=["github.rotate_secrets:admin"])
    assert "production secrets" in raised.value.message_dict["scopes"][0]
    ApprovalRule.objects.filter(production_secrets=True).update(allows_break_glass=True)
    assert start(estate, scopes=["github.rotate_secrets:admin"]).scopes == ["github.rotate_secrets:admin"]


@pytest.mark.django_db
def test_the_review_is_closed_by_someone_who_is_neither_the_person_nor_an_owner(estate):
    row = start(estate)
    other_owner = UserFactory()
    OwnershipFactory(identity=estate.agent, person=other_owner, role="backup")
    with pytest.raises(PermissionDenied, match="their own"):
        break_glass_close(break_glass=row, actor=estate.cast.identity_owner, note="fine")
    with pytest.raises(PermissionDenied, match="owner"):
        break_glass_close(break_glass=row, actor=other_owner, note="fine")
    with pytest.raises(PermissionDenied, match="Only a manager"):
        break_glass_close(break_glass=row, actor=estate.cast.auditor, note="fine")
    with pytest.raises(Exception) as raised:
        break_glass_close(break_glass=row, actor=estate.cast.security_analyst, note=" ")
    assert "note" in raised.value.message_dict
    closed = break_glass_close(break_glass=row, actor=estate.cast.security_analyst, note="justified: outage")
    assert closed.closed_by == estate.cast.security_analyst
    assert AuditEntry.objects.filter(action="break_glass.close").exists()
    with pytest.raises(Conflict):
        break_glass_close(break_glass=row, actor=estate.cast.manager, note="again")


@pytest.mark.django_db
def test_the_database_refuses_a_close_by_the_person_or_an_owner_and_any_change_once_closed():
    row = BreakGlassFactory()
    owner = OwnershipFactory(identity=row.identity).person
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlass.objects.filter(pk=row.pk).update(closed_at=now, closed_by=row.person)
    with pytest.raises(DatabaseError), transaction.atomic():
        BreakGlass.objects.filter(pk=row.pk).update(closed_at=now, closed_by=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlass.objects.filter(pk=row.pk).update(closed_at=now)
    BreakGlass.objects.filter(pk=row.pk).update(closed_at=now, closed_by=UserFactory(), close_note="ok")
    with pytest.raises(DatabaseError), transaction.atomic():
        BreakGlass.objects.filter(pk=row.pk).update(close_note="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        BreakGlass.objects.filter(pk=row.pk).delete()


@pytest.mark.django_db
def test_an_unclosed_review_is_overdue_after_a_day_and_escalates_once(estate):
    row = start(estate)
    later = timezone.now() + timedelta(hours=25)
    assert not overdue(row) and overdue(row, later)
    assert break_glass_escalate() == 0
    assert break_glass_escalate(now=later) == 1
    assert break_glass_escalate(now=later) == 0
    row.refresh_from_db()
    assert row.escalated_at is not None
    message = OutboxMessage.objects.get(dedupe_key=f"reviews.break_glass.escalated:{row.uuid}")
    assert estate.cast.administrator.email in message.payload["to"]
    entry = AuditEntry.objects.get(action="break_glass.escalate")
    assert entry.actor_label == "reviews.tasks.escalate_break_glass"


@pytest.mark.django_db
def test_the_escalation_runs_as_celery_runs_it(estate, settings):
    row = start(estate)
    assert escalate_break_glass.apply().get() == 0
    settings.REVIEWS_BREAK_GLASS_REVIEW_WITHIN = 0
    assert escalate_break_glass.apply().get() == 1
    row.refresh_from_db()
    assert row.escalated_at is not None and overdue(row)


@pytest.mark.django_db
def test_a_new_break_glass_follows_one_whose_review_was_already_closed(estate):
    """The usual order — break the glass, the grant ends, someone closes the review — must not block the
    next emergency on the same identity (the closed record is only marked superseded)."""
    first = start(estate)
    grant_end(grant=first.grant, actor=estate.cast.security_analyst, reason="fixed")
    break_glass_close(break_glass=first, actor=estate.cast.security_analyst, note="justified: outage")
    second = start(estate, task="incident-43")
    first.refresh_from_db()
    assert first.superseded_at is not None and first.close_note == "justified: outage"
    assert second.superseded_at is None
