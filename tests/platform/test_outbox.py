"""The outbox (agentiam.outbox): written in the caller's transaction, deduplicated, claimed with SKIP LOCKED,
retried with exponential backoff, audited when it finally fails, purged after retention."""

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from agentiam import outbox
from agentiam.models import OutboxMessage
from agentiam.outbox import DeliveryFailed, OutboxError
from agentiam.tasks import deliver_outbox, sweep_outbox
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


@pytest.fixture
def channel(settings):
    """A channel of the test's own: records what it delivers; `fail` holds what to raise next."""
    settings.OUTBOX_RETRY_BASE, settings.OUTBOX_RETRY_MAX, settings.OUTBOX_MAX_ATTEMPTS = 10, 60, 4
    state = {"sent": [], "fail": []}

    def deliver(message):
        if state["fail"]:
            raise state["fail"].pop(0)
        state["sent"].append((message.destination, message.payload))

    outbox.register_channel("probe", deliver)
    yield state
    outbox.unregister_channel("probe")


def enqueue(**fields) -> OutboxMessage:
    with transaction.atomic():
        return outbox.enqueue(**{"kind": "probe", "destination": "ops", "payload": {"n": 1}, **fields})


def make_due(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_a_message_is_written_in_the_callers_transaction_and_rolls_back_with_it(channel):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue(kind="probe", destination="ops", payload={})
        raise RuntimeError("the change failed")
    assert not OutboxMessage.objects.exists()
    with pytest.raises(OutboxError, match="no outbox channel 'nope'"), transaction.atomic():
        outbox.enqueue(kind="nope", destination="ops", payload={})


@pytest.mark.django_db(transaction=True)
def test_a_message_outside_a_transaction_is_refused(channel):
    with pytest.raises(OutboxError, match="inside the transaction"):
        outbox.enqueue(kind="probe", destination="ops", payload={})


def test_a_dedupe_key_enqueues_a_message_once(channel):
    first = enqueue(dedupe_key="digest:2026-12-07")
    again = enqueue(dedupe_key="digest:2026-12-07", payload={"n": 2})
    assert again.pk == first.pk and again.payload == {"n": 1}
    assert enqueue().pk != enqueue().pk  # no key: no deduplication
    assert OutboxMessage.objects.count() == 3


def test_a_due_message_is_delivered_once(channel):
    message = enqueue(payload={"hello": "world"})
    assert deliver_outbox(message.pk) == {"delivered": 1, "pending": 0, "failed": 0}
    assert deliver_outbox(message.pk) == {"delivered": 0, "pending": 0, "failed": 0}  # a second delivery of the task
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (Status.DELIVERED, 1, "")
    assert message.delivered_at is not None and channel["sent"] == [("ops", {"hello": "world"})]


def test_failures_back_off_exponentially_then_the_message_fails_and_is_audited(channel):
    message = enqueue()
    channel["fail"] = [ConnectionError(f"refused {n}") for n in range(4)]
    waits = []
    for attempt in range(1, 5):
        before = timezone.now()
        outbox.deliver_due(message_id=message.pk)
        message.refresh_from_db()
        assert message.attempts == attempt and message.last_error == f"refused {attempt - 1}"
        if attempt < 4:
            assert message.status == Status.PENDING
            waits.append(round((message.next_attempt_at - before).total_seconds()))
            assert outbox.deliver_due(message_id=message.pk)["pending"] == 0  # not due yet
            make_due(message)
    assert waits == [10, 20, 40]  # RETRY_BASE * 2^(n-1)
    assert outbox.backoff(5) == timedelta(seconds=60)  # capped at RETRY_MAX
    assert message.status == Status.FAILED and message.failed_at is not None and channel["sent"] == []
    entry = AuditEntry.objects.get(action="outbox.failed")
    assert entry.object_id == str(message.uuid) and (entry.actor_kind, entry.actor_label) == (
        "job",
        deliver_outbox.name,
    )
    assert entry.changes == {
        "kind": "probe", "destination": "ops", "attempts": 4, "error": "refused 3", "dedupe_key": "",
    }  # fmt: skip


def test_a_permanent_failure_is_not_retried(channel):
    message = enqueue(destination="https://hooks.example/T000/secret-token")
    channel["fail"] = [DeliveryFailed("https://hooks.example/T000/secret-token answered 404", permanent=True)]
    assert sweep_outbox()["failed"] == 1
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.attempts == 1
    entry = AuditEntry.objects.get(action="outbox.failed")
    # the URL's path may be the receiver's secret: the trail shows scheme and host only
    assert entry.changes["destination"] == "https://hooks.example/…" and "secret-token" not in str(entry.changes)


@pytest.mark.django_db(transaction=True)
def test_a_message_locked_by_another_worker_is_skipped_not_waited_for(channel):
    locked, other = enqueue(), enqueue()
    holding, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10)
        assert outbox.deliver_due() == {"delivered": 1, "pending": 0, "failed": 0}
    finally:
        release.set()
        thread.join(10)
    assert OutboxMessage.objects.get(pk=other.pk).status == Status.DELIVERED
    assert OutboxMessage.objects.get(pk=locked.pk).status == Status.PENDING
    assert outbox.deliver_due()["delivered"] == 1  # once the other worker let go


def test_delivered_and_failed_messages_go_after_retention_pending_ones_stay(channel, settings):
    settings.OUTBOX_RETENTION_DAYS = 30
    old = timezone.now() - timedelta(days=31)
    delivered, failed, pending, recent = enqueue(), enqueue(), enqueue(), enqueue()
    OutboxMessage.objects.filter(pk=delivered.pk).update(status=Status.DELIVERED, created_at=old)
    OutboxMessage.objects.filter(pk=failed.pk).update(status=Status.FAILED, created_at=old)
    OutboxMessage.objects.filter(pk=pending.pk).update(created_at=old)
    OutboxMessage.objects.filter(pk=recent.pk).update(status=Status.DELIVERED)
    assert outbox.purge() == 2
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {pending.pk, recent.pk}


def test_beat_sweeps_the_outbox(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["outbox"]
    assert entry["task"] == sweep_outbox.name and entry["schedule"] <= 60


def test_the_outbox_command_shows_counts_the_oldest_pending_and_the_latest_failures(channel):
    pending = enqueue()
    OutboxMessage.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    failed = enqueue(destination="https://hooks.example/T0/secret-token")
    channel["fail"] = [DeliveryFailed("https://hooks.example/T0/secret-token answered 410", permanent=True)]
    outbox.deliver_due(message_id=failed.pk)
    out = io.StringIO()
    call_command("outbox", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["probe        failed     1", "probe        pending    1"]
    assert lines[2].startswith("oldest pending: ") and 299 <= int(lines[2].split()[2]) <= 330
    assert str(failed.uuid) in lines[3] and "https://hooks.example/… answered 410" in lines[3]
    assert "secret-token" not in out.getvalue()
