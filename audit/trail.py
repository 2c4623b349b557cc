"""`audit_record` — the one writer of the audit trail.

Call it as the last statement of the transaction that made the change: it takes a transaction-level
advisory lock, so writers are serialised and the chain never forks, and the lock is held until COMMIT.
Bulk operations write one entry whose `changes` carry a digest of what they changed. An entry whose id
crosses a multiple of AUDIT_CHECKPOINT_EVERY enqueues a signed checkpoint (audit.checkpoints) once its
transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import actors
from audit.canonical import utc_text
from audit.models import AuditEntry

GENESIS = "0" * 64
# pg_advisory_xact_lock key: the audit chain (any constant unique within this database).
_CHAIN_LOCK = 0x41_55_44_49_54  # "AUDIT"

HASHED_FIELDS = (
    "uuid",
    "occurred_at",
    "actor_id",
    "actor_label",
    "actor_kind",
    "action",
    "object_type",
    "object_id",
    "object_label",
    "changes",
    "ip_address",
    "request_id",
)


class AuditError(RuntimeError):
    pass


def canonical_text(fields: dict[str, Any]) -> str:
    """The exact text an entry's hash covers: sorted keys, compact separators, UTC timestamps.

    JSONB reorders keys, so the hash is never taken over what the database returns as-is."""
    data = {name: fields[name] for name in HASHED_FIELDS}
    data["uuid"] = str(data["uuid"])
    data["occurred_at"] = utc_text(data["occurred_at"])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + "\n" + canonical_text(fields)).encode()).hexdigest()


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _actor(actor) -> tuple[int | None, str, str]:
    if actor is None:
        job = actors.current_job()
        return (None, job, actors.JOB) if job else (None, "system", "system")
    if isinstance(actor, actors.Actor):
        return None, actor.label, actor.kind
    if isinstance(actor, str):
        return None, actor, "system"
    label = getattr(actor, "get_username", lambda: str(actor))()
    return actor.pk, label, getattr(actor, "audit_actor_kind", "person")


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor,
    action: str,
    target: Any = None,
    object_type: str = "",
    object_id: str = "",
    object_label: str = "",
    changes: dict[str, Any] | None = None,
    request=None,
    actor_kind: str | None = None,
) -> AuditEntry:
    """Append one entry to the trail. Must run inside the caller's transaction (its last statement).

    `actor` is a person (a User), an `audit.actors.Actor` (an identity, a named job), a string naming another
    non-person actor, or None: the job running now (`audit.actors.running_job`), else "system". `target`
    is the model instance the action was about (its public id and str() are recorded), or pass
    object_type / object_id / object_label explicitly."""
    if not connection.in_atomic_block:
        raise AuditError("audit_record must run inside the transaction that made the change")
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or str(getattr(target, "uuid", None) or target.pk)
        object_label = object_label or str(target)[:300]
    actor_id, actor_label, kind = _actor(actor)
    fields = {
        "uuid": uuid.uuid4(),
        "occurred_at": timezone.now(),
        "actor_id": actor_id,
        "actor_label": actor_label[:200],
        "actor_kind": actor_kind or kind,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_label": object_label,
        "changes": json.loads(json.dumps(changes or {}, default=str)),
        "ip_address": _client_ip(request),
        "request_id": (getattr(request, "request_id", "") or "") if request is not None else "",
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
    prev_id, prev = AuditEntry.objects.order_by("-id").values_list("id", "hash").first() or (0, GENESIS)
    entry = AuditEntry.objects.create(prev_hash=prev, hash=entry_hash(prev, fields), **fields)
    every = settings.AUDIT_CHECKPOINT_EVERY
    if entry.pk // every > prev_id // every:
        # robust: the change is committed by then; a broker outage must not turn it into an error (the
        # minute's checkpoint covers the entry anyway).
        transaction.on_commit(_enqueue_checkpoint, robust=True)
    return entry


def _enqueue_checkpoint() -> None:
    from audit.tasks import write_checkpoint

    write_checkpoint.delay()


@transaction.atomic
def audit_record_now(**kwargs) -> AuditEntry:
    """For events that change nothing else (a failed login): its own small transaction."""
    return audit_record(**kwargs)
