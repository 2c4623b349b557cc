"""Signed checkpoints of the audit trail, kept in the database and copied to a sink outside it.

A checkpoint signs (last entry id, entry count, head hash, previous checkpoint's signature, key id,
time) with the active audit_checkpoint key. Rewriting entries a checkpoint covers changes the head hash;
deleting the checkpoints too is caught by the sink's copy. Entries written since the last checkpoint are
protected only by the chain, the triggers and the database privileges until the next one (at most a
minute, or AUDIT_CHECKPOINT_EVERY entries).
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from audit.canonical import utc_text
from audit.keys import Purpose, active_key, b64url, private_key
from audit.models import AuditCheckpoint, AuditEntry
from audit.sinks import CheckpointSink, get_sink

# pg_advisory_xact_lock key serialising checkpoint writers (and sink copies), so checkpoints never fork.
_CHECKPOINT_LOCK = 0x41_55_44_43_50  # "AUDCP"

SIGNED_FIELDS = ("last_entry_id", "entry_count", "head_hash", "prev_signature", "key_id", "created_at")


def checkpoint_text(fields: dict) -> str:
    """The exact text a checkpoint's signature covers."""
    data = {name: fields[name] for name in SIGNED_FIELDS}
    if isinstance(data["created_at"], datetime):
        data["created_at"] = utc_text(data["created_at"])
    return json.dumps({"v": 1, **data}, sort_keys=True, separators=(",", ":"))


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict:
    """A checkpoint as the sink stores it: everything needed to check it against the trail and the key."""
    record = {name: getattr(checkpoint, name) for name in SIGNED_FIELDS}
    record["created_at"] = utc_text(checkpoint.created_at)
    return {"id": checkpoint.pk, **record, "signature": checkpoint.signature}


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHECKPOINT_LOCK])


def checkpoint_create() -> AuditCheckpoint | None:
    """Checkpoint the trail's current head; None when nothing was written since the last checkpoint.

    Safe to run twice or concurrently. The sink copy is written after the checkpoint commits."""
    with transaction.atomic():
        _lock()
        last = AuditCheckpoint.objects.order_by("-last_entry_id").first()
        # Entries commit in id order (audit_record holds the chain lock to COMMIT), so what this snapshot
        # sees is a prefix of the chain and the count below is exact.
        head = AuditEntry.objects.order_by("-id").values_list("id", "hash").first()
        if head is None or (last is not None and head[0] <= last.last_entry_id):
            return None
        since = last.last_entry_id if last else 0
        key = active_key(Purpose.AUDIT_CHECKPOINT)
        fields = {
            "last_entry_id": head[0],
            "entry_count": (last.entry_count if last else 0)
            + AuditEntry.objects.filter(id__gt=since, id__lte=head[0]).count(),
            "head_hash": head[1],
            "prev_signature": last.signature if last else "",
            "key_id": key.kid,
            "created_at": timezone.now(),
        }
        signature = b64url(private_key(key).sign(checkpoint_text(fields).encode()))
        checkpoint = AuditCheckpoint.objects.create(signature=signature, **fields)
        transaction.on_commit(sink_sync)
    return checkpoint


def sink_sync(sink: CheckpointSink | None = None) -> int:
    """Append to the sink every committed checkpoint it does not have yet; returns how many.

    Runs after the checkpoint's commit, so a sink that was down catches up on the next checkpoint."""
    sink = sink or get_sink()
    written = 0
    with transaction.atomic():
        _lock()
        last = sink.last()
        after = int(last["id"]) if last else 0
        for checkpoint in AuditCheckpoint.objects.filter(id__gt=after).order_by("id").iterator():
            sink.append(checkpoint_record(checkpoint))
            written += 1
    return written
