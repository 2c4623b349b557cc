"""Checkpoints and `verify_audit_trail`: each way of quietly rewriting the trail is caught (real PostgreSQL,
triggers switched off the way an attacker with a privileged session would)."""

import json
import signal
from io import StringIO

import pgtrigger
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from audit.checkpoints import checkpoint_create, checkpoint_text, sink_sync
from audit.keys import b64url_decode
from audit.models import AuditCheckpoint, AuditEntry, SigningKey
from audit.sinks import JsonlFileSink
from audit.tasks import write_checkpoint
from audit.trail import audit_record, audit_record_now, entry_fields, entry_hash
from tests.support import child_env, start_worker, wait_until

# Checkpoints are signed: every test here starts with the keys `migrate` makes outside the test profile.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("signing_keys")]
ENTRY_TRIGGER = "audit.AuditEntry:audit_entry_append_only"
CHECKPOINT_TRIGGER = "audit.AuditCheckpoint:audit_checkpoint_append_only"


@pytest.fixture(autouse=True)
def sink(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_SINK = str(tmp_path / "audit" / "checkpoints.jsonl")
    return JsonlFileSink(settings.AUDIT_CHECKPOINT_SINK)


def record(count: int) -> list[AuditEntry]:
    entries = []
    for n in range(count):
        with transaction.atomic():
            entries.append(audit_record(actor=None, action="identity.update", object_id=str(n), changes={"n": n}))
    return entries


def checkpoint(django_capture_on_commit_callbacks) -> AuditCheckpoint | None:
    with django_capture_on_commit_callbacks(execute=True):  # the sink copy is written after commit
        return checkpoint_create()


def verify() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_trail", stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, err.getvalue()
    return 0, out.getvalue()


def rewrite(first: AuditEntry, last: AuditEntry | None = None) -> None:
    """Rewrite entries from `first` on (to `last`) behind the trigger's back, recomputing every hash so the
    chain is consistent."""
    entries = AuditEntry.objects.filter(pk__gte=first.pk, pk__lte=last.pk if last else 2**62).order_by("id")
    prev_hash = AuditEntry.objects.get(pk=first.pk).prev_hash
    with pgtrigger.ignore(ENTRY_TRIGGER):
        for entry in entries:
            entry.action = "identity.view"
            entry.prev_hash, entry.hash = prev_hash, entry_hash(prev_hash, entry_fields(entry))
            entry.save(update_fields=["action", "prev_hash", "hash"])
            prev_hash = entry.hash


def test_an_intact_trail_verifies_with_its_signed_checkpoints_chained_and_copied_outside(
    django_capture_on_commit_callbacks, sink
):
    record(3)
    first = checkpoint(django_capture_on_commit_callbacks)
    record(2)
    second = checkpoint(django_capture_on_commit_callbacks)

    total = AuditEntry.objects.count()  # the five, plus the creation of the signing keys
    assert (second.last_entry_id, second.entry_count) == (AuditEntry.objects.latest("id").pk, total)
    assert second.head_hash == AuditEntry.objects.latest("id").hash
    assert (first.prev_signature, second.prev_signature) == ("", first.signature)
    key = SigningKey.objects.get(kid=second.key_id, purpose="audit_checkpoint")
    public = Ed25519PublicKey.from_public_bytes(b64url_decode(key.public_key))
    public.verify(b64url_decode(second.signature), checkpoint_text(second.__dict__).encode())

    lines = [json.loads(line) for line in sink.path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [first.pk, second.pk]
    assert lines[1]["signature"] == second.signature and lines[1]["head_hash"] == second.head_hash
    assert verify() == (0, f"OK: {total} entries, 2 checkpoints\n")


def test_checkpointing_is_idempotent_when_nothing_was_written(django_capture_on_commit_callbacks, sink):
    record(2)
    assert checkpoint(django_capture_on_commit_callbacks) is not None
    assert checkpoint(django_capture_on_commit_callbacks) is None
    with django_capture_on_commit_callbacks(execute=True):
        write_checkpoint.apply()  # what beat runs every minute
    assert AuditCheckpoint.objects.count() == 1
    assert len(sink.path.read_text().splitlines()) == 1


def test_beat_runs_the_checkpoint_task_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == write_checkpoint.name and entry["schedule"] == 60.0


def test_a_sink_that_was_unavailable_catches_up_on_the_next_run(django_capture_on_commit_callbacks, settings, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.AUDIT_CHECKPOINT_SINK = str(blocked / "checkpoints.jsonl")
    record(2)
    with pytest.raises(OSError):
        checkpoint(django_capture_on_commit_callbacks)
    made = AuditCheckpoint.objects.get()  # committed before the sink write failed

    blocked.unlink()
    with django_capture_on_commit_callbacks(execute=True):
        write_checkpoint.apply()
    copied = JsonlFileSink(settings.AUDIT_CHECKPOINT_SINK).last()
    assert copied["id"] == made.pk and AuditCheckpoint.objects.count() == 1
    assert verify()[0] == 0


def test_crossing_a_multiple_of_n_entries_enqueues_a_checkpoint_and_other_entries_do_not(
    settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_CHECKPOINT_EVERY = 10**12
    with django_capture_on_commit_callbacks() as quiet:
        record(1)
    settings.AUDIT_CHECKPOINT_EVERY = 1
    with django_capture_on_commit_callbacks() as crossing:
        record(1)
    assert [c.__name__ for c in quiet] == []
    assert [c.__name__ for c in crossing] == ["_enqueue_checkpoint"]


# --- Tampering ------------------------------------------------------------------------------------------


def test_an_entry_altered_with_its_trigger_disabled_is_named(django_capture_on_commit_callbacks):
    entries = record(4)
    checkpoint(django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:  # the test connection is the superuser, as an attacker's would be
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditentry SET changes = '{\"n\": 99}' WHERE id = %s", [entries[1].pk])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
    code, message = verify()
    assert code == 1
    assert message == f"MISMATCH: entry #{entries[1].pk} does not match its hash: it was changed after it was written\n"


def test_an_entry_rewritten_with_a_fresh_hash_breaks_the_link_of_the_next_one():
    entries = record(3)
    rewrite(entries[1], entries[1])
    code, message = verify()
    assert code == 1
    assert f"entry #{entries[2].pk} does not link to the entry before it (#{entries[1].pk})" in message


def test_a_tail_rewritten_with_recomputed_hashes_before_a_checkpoint_is_reported(
    django_capture_on_commit_callbacks,
):
    entries = record(5)
    made = checkpoint(django_capture_on_commit_callbacks)
    rewrite(entries[2])  # the chain itself is consistent again
    code, message = verify()
    assert code == 1
    assert message == (
        f"MISMATCH: checkpoint #{made.pk} does not match the trail: entries up to #{made.last_entry_id} "
        "were rewritten or removed\n"
    )


def test_a_tail_rewritten_after_the_databases_last_checkpoint_is_caught_by_the_sink(
    django_capture_on_commit_callbacks,
):
    record(3)
    checkpoint(django_capture_on_commit_callbacks)
    tail = record(3)
    later = checkpoint(django_capture_on_commit_callbacks)
    # The attacker rewrites everything after the first checkpoint and drops the checkpoint that covered it.
    rewrite(tail[0])
    with pgtrigger.ignore(CHECKPOINT_TRIGGER):
        AuditCheckpoint.objects.filter(pk=later.pk).delete()
    code, message = verify()
    assert code == 1
    assert message == (
        f"MISMATCH: checkpoint #{later.pk} in the external sink does not match the trail at entry "
        f"#{tail[-1].pk}: entries up to it were rewritten or removed\n"
    )


def test_a_tail_cut_together_with_its_checkpoints_is_reported_from_the_sink(django_capture_on_commit_callbacks):
    record(3)
    kept = checkpoint(django_capture_on_commit_callbacks)
    cut = record(4)
    later = checkpoint(django_capture_on_commit_callbacks)
    with pgtrigger.ignore(ENTRY_TRIGGER, CHECKPOINT_TRIGGER):
        AuditEntry.objects.filter(pk__gte=cut[0].pk).delete()
        AuditCheckpoint.objects.filter(pk=later.pk).delete()
    code, message = verify()
    assert code == 1
    assert message == (
        f"MISMATCH: checkpoint #{later.pk} in the external sink covers {kept.entry_count + 4} entries up to "
        f"#{cut[-1].pk}, but the trail ends at entry #{kept.last_entry_id} with {kept.entry_count} entries: "
        "its tail was cut\n"
    )


def test_an_entry_removed_from_the_middle_is_reported(django_capture_on_commit_callbacks):
    entries = record(4)
    with pgtrigger.ignore(ENTRY_TRIGGER):
        AuditEntry.objects.filter(pk=entries[1].pk).delete()
    code, message = verify()
    assert code == 1 and f"entry #{entries[2].pk} does not link to the entry before it (#{entries[0].pk})" in message


def test_a_checkpoint_altered_in_the_database_fails_its_signature(django_capture_on_commit_callbacks):
    record(2)
    made = checkpoint(django_capture_on_commit_callbacks)
    with pgtrigger.ignore(CHECKPOINT_TRIGGER):
        AuditCheckpoint.objects.filter(pk=made.pk).update(created_at=made.created_at.replace(year=2020))
    code, message = verify()
    assert code == 1
    assert f"checkpoint #{made.pk} has a signature that does not verify: it was not made by key" in message


def test_a_sink_record_that_contradicts_the_database_is_reported(django_capture_on_commit_callbacks, sink):
    record(2)
    made = checkpoint(django_capture_on_commit_callbacks)
    line = json.loads(sink.path.read_text())
    sink.path.write_text(json.dumps({**line, "signature": "A" * 86}) + "\n")
    code, message = verify()
    assert code == 1
    assert (
        message
        == f"MISMATCH: checkpoint #{made.pk} in the external sink contradicts the database's checkpoint #{made.pk}\n"
    )


def test_a_checkpoint_missing_from_the_database_but_in_the_sink_is_reported(django_capture_on_commit_callbacks):
    record(2)
    made = checkpoint(django_capture_on_commit_callbacks)
    with pgtrigger.ignore(CHECKPOINT_TRIGGER):
        AuditCheckpoint.objects.filter(pk=made.pk).delete()
    code, message = verify()
    assert code == 1
    assert (
        f"checkpoint #{made.pk} (entries up to #{made.last_entry_id}) is in the external sink but not in the database"
        in message
    )


def test_a_garbled_sink_is_reported_not_crashed_on(django_capture_on_commit_callbacks, sink):
    record(1)
    checkpoint(django_capture_on_commit_callbacks)
    with open(sink.path, "a") as handle:
        handle.write("{not json\n")
    code, message = verify()
    assert code == 1 and "line 2 of" in message and "is not a checkpoint record" in message


def test_a_sink_copy_is_written_once_even_when_synced_twice(django_capture_on_commit_callbacks, sink):
    record(1)
    checkpoint(django_capture_on_commit_callbacks)
    assert sink_sync() == 0
    assert len(sink.path.read_text().splitlines()) == 1


# --- End to end: a real worker writes the checkpoint -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_nth_entry_makes_a_worker_write_a_signed_checkpoint_to_the_database_and_the_sink(
    settings, sink, redis_client, tmp_path
):
    settings.AUDIT_CHECKPOINT_EVERY = 1
    worker = start_worker(child_env(AUDIT_CHECKPOINT_SINK=str(sink.path)), tmp_path / "worker.log")
    try:
        entry = audit_record_now(actor=None, action="identity.update")
        made = wait_until(
            lambda: AuditCheckpoint.objects.filter(last_entry_id__gte=entry.pk).first(),
            timeout=60,
            what="the worker's checkpoint",
        )
        wait_until(lambda: sink.path.exists() and sink.last(), timeout=30, what="the sink copy")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert sink.last()["id"] == made.pk
    assert verify() == (0, f"OK: {AuditEntry.objects.count()} entries, {AuditCheckpoint.objects.count()} checkpoints\n")
