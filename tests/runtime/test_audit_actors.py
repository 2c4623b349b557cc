"""Issue 9, class 11 (actor): every audit entry names a person, an identity or a named job — never a bare
"system". The agent's own token and proof, Celery tasks and commands each leave their name in the trail."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from agentiam import outbox
from agentiam.outbox import DeliveryFailed
from agentiam.tasks import deliver_outbox, maintain_partitions
from audit import actors
from audit.models import AuditEntry
from identities.models import Task
from identities.runtime.partitions import DECISION_LOG
from tests.runtime_support import access_token

pytestmark = pytest.mark.django_db

NAMED_KINDS = {"person", "api_token", "agent", "job"}


@pytest.fixture
def failing_channel():
    def deliver(message):
        raise DeliveryFailed("answered 404", permanent=True)

    outbox.register_channel("probe-fail", deliver)
    yield
    outbox.unregister_channel("probe-fail")


def _old_partition(settings) -> None:
    settings.RUNTIME_DECISION_RETENTION_DAYS = 30
    DECISION_LOG.create(datetime.now(UTC).date() - timedelta(days=45), 1)


def test_every_entry_of_the_agent_and_job_paths_names_who_did_it(estate, settings, failing_channel):
    start = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    issued = access_token(task="actor-walk")  # opens the task: the agent's proof
    task = Task.objects.get(uuid=issued["task_id"])
    response = Client().post(
        f"/api/v1/runtime/tasks/{task.uuid}/complete", HTTP_AUTHORIZATION=f"Bearer {issued['access_token']}"
    )
    assert response.status_code == 200, response.content
    with transaction.atomic():
        message = outbox.enqueue(kind="probe-fail", destination="ops", payload={})
    deliver_outbox.apply(args=[message.pk])  # as the worker runs it: Celery's task signals fire
    _old_partition(settings)
    maintain_partitions.apply()
    call_command("rotate_signing_key", "evidence", stdout=io.StringIO())

    walked = list(AuditEntry.objects.filter(id__gt=start).order_by("id"))
    by_action = {entry.action: entry for entry in walked}
    assert {"task.open", "task.complete", "outbox.failed", "policy_decision.partition_drop"} <= set(by_action)
    assert "signing_key.rotate" in by_action
    agent = f"identity {estate.agent.uuid} ({estate.agent.name})"
    assert (by_action["task.open"].actor_kind, by_action["task.open"].actor_label) == ("agent", agent)
    completed = by_action["task.complete"]
    assert (completed.actor_kind, completed.actor_label) == ("agent", agent)
    assert completed.changes["credential"].startswith("agent token ")
    assert (by_action["outbox.failed"].actor_kind, by_action["outbox.failed"].actor_label) == (
        "job",
        deliver_outbox.name,
    )
    drop = by_action["policy_decision.partition_drop"]
    assert (drop.actor_kind, drop.actor_label) == ("job", maintain_partitions.name)
    assert by_action["signing_key.rotate"].actor_label.startswith("manage.py rotate_signing_key")
    unnamed = [(e.action, e.actor_kind, e.actor_label) for e in walked if e.actor_kind not in NAMED_KINDS]
    assert unnamed == []
    assert not [e for e in walked if e.actor_label in ("", "system")]


def test_an_entry_without_an_actor_inside_a_job_names_the_job_and_outside_one_says_system():
    from audit.trail import audit_record

    with transaction.atomic(), actors.running_job("manage.py example"):
        inside = audit_record(actor=None, action="probe.inside")
    with transaction.atomic():
        outside = audit_record(actor=None, action="probe.outside")
    assert (inside.actor_kind, inside.actor_label) == ("job", "manage.py example")
    assert (outside.actor_kind, outside.actor_label) == ("system", "system")
    assert actors.current_job() is None


def test_a_task_run_by_celery_names_itself_only_while_it_runs():
    seen = []
    outbox.register_channel("probe-seen", lambda message: seen.append(actors.current_job()))
    try:
        with transaction.atomic():
            message = outbox.enqueue(kind="probe-seen", destination="ops", payload={})
        deliver_outbox.apply(args=[message.pk])
    finally:
        outbox.unregister_channel("probe-seen")
    assert seen == [deliver_outbox.name] and actors.current_job() is None
