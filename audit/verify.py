"""Verify the audit trail: every entry's hash and link, every checkpoint, and the external sink's copy.

One pass in id order, streaming entries, database checkpoints and sink records side by side, stopping at
the first thing that does not match. The sink is read up to where it ended before the database snapshot
is taken, so a checkpoint committed while we verify cannot look like one the database lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.checkpoints import SIGNED_FIELDS, checkpoint_record, checkpoint_text
from audit.keys import Purpose, b64url_decode, public_key
from audit.models import AuditCheckpoint, AuditEntry, SigningKey
from audit.sinks import CheckpointSink, SinkError, get_sink
from audit.trail import GENESIS, HASHED_FIELDS, entry_hash

ENTRY_ALTERED = "entry #{id} does not match its hash: it was changed after it was written"
ENTRY_UNLINKED = (
    "entry #{id} does not link to the entry before it (#{prev}): that entry was rewritten, "
    "or entries between them were removed"
)
CHECKPOINT_ORPHANED = "checkpoint #{cp} names entry #{entry}, which is not in the trail"
CHECKPOINT_HEAD = "checkpoint #{cp} does not match the trail: entries up to #{entry} were rewritten or removed"
CHECKPOINT_COUNT = "checkpoint #{cp} counts {claimed} entries up to entry #{entry}; the trail has {actual}"
CHECKPOINT_UNLINKED = "checkpoint #{cp} does not link to the checkpoint before it ({prev})"
CHECKPOINT_SIGNATURE = "checkpoint #{cp} has a signature that does not verify: {why}"
CHECKPOINT_ORDER = "checkpoint #{cp} is out of order (it covers fewer entries than an earlier checkpoint)"
CHECKPOINT_BEYOND = "checkpoint #{cp} covers entries up to #{entry}, but the trail ends at entry #{last}"
SINK_ORPHANED = "checkpoint #{cp} in the external sink names entry #{entry}, which is not in the trail"
SINK_HEAD = (
    "checkpoint #{cp} in the external sink does not match the trail at entry #{entry}: "
    "entries up to it were rewritten or removed"
)
SINK_MISSING = "checkpoint #{cp} (entries up to #{entry}) is in the external sink but not in the database"
SINK_CONTRADICTS = "checkpoint #{cp} in the external sink contradicts the database's checkpoint #{db}"
SINK_BEYOND = (
    "checkpoint #{cp} in the external sink covers {count} entries up to #{entry}, but the trail ends at "
    "entry #{last} with {actual} entries: its tail was cut"
)
SINK_ORDER = "checkpoint #{cp} in the external sink is out of order"
SINK_SHAPE = "a record in the external sink is not a checkpoint: {record!r:.200}"
SINK_SHORT = (
    "checkpoint #{cp} (entries up to #{entry}, made {age} s ago) is in the database but not in the external sink "
    "({sink}): the sink is missing, was cut or was replaced"
)
TRAIL_EMPTY = (
    "the trail is empty, but the database holds {keys} signing key(s), whose creation is audited: "
    "the trail was truncated"
)

_SINK_TYPES = {"id": int, "last_entry_id": int, "entry_count": int, "head_hash": str, "prev_signature": str}
_SINK_TYPES |= {"key_id": str, "created_at": str, "signature": str}


@dataclass(frozen=True)
class Verdict:
    entries: int
    checkpoints: int
    sink_checkpoints: int
    problem: str | None  # the first entry or checkpoint that does not match

    @property
    def ok(self) -> bool:
        return self.problem is None


class _Mismatch(Exception):
    pass


def verify_trail(*, sink: CheckpointSink | None = None, now: datetime | None = None) -> Verdict:
    sink = sink or get_sink()
    walk = _Walk()
    try:
        records = sink.records()  # fixes the sink's end before the database snapshot below
        if connection.in_atomic_block:
            walk.run(records)
        else:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                walk.run(records)
    except (_Mismatch, SinkError) as problem:
        return Verdict(walk.entries, walk.checkpoints, walk.sink_checkpoints, str(problem))
    return Verdict(walk.entries, walk.checkpoints, walk.sink_checkpoints, _edges(walk, sink, now or timezone.now()))


def _edges(walk: _Walk, sink: CheckpointSink, now: datetime) -> str | None:
    """What a consistent database alone cannot show: its checkpoints missing from the sink (beyond the one
    window the copy may lag, AUDIT_CHECKPOINT_INTERVAL seconds), and an empty trail beside audited rows."""
    grace = settings.AUDIT_CHECKPOINT_INTERVAL
    for cp in walk.unsunk:
        age = int((now - cp.created_at).total_seconds())
        if age > grace:
            return SINK_SHORT.format(cp=cp.pk, entry=cp.last_entry_id, age=age, sink=sink)
    if walk.entries == 0:
        keys = SigningKey.objects.count()
        if keys:
            return TRAIL_EMPTY.format(keys=keys)
    return None


class _Walk:
    def __init__(self):
        self.entries = self.checkpoints = self.sink_checkpoints = 0
        self.unsunk: list[AuditCheckpoint] = []  # database checkpoints the sink has no record of
        self._keys: dict[str, SigningKey | None] = {}

    def run(self, records) -> None:
        db, sink = self._db_checkpoints(), self._sink_records(records)
        cp, record = next(db, None), next(sink, None)
        prev_id, prev_hash, prev_cp = None, GENESIS, None
        columns = ("id", "prev_hash", "hash", *HASHED_FIELDS)
        rows = AuditEntry.objects.order_by("id").values_list(*columns).iterator(chunk_size=2000)
        for row in rows:
            entry_id, linked_to, stored = row[:3]
            if cp is not None and cp.last_entry_id < entry_id:
                raise _Mismatch(CHECKPOINT_ORPHANED.format(cp=cp.pk, entry=cp.last_entry_id))
            if record is not None and record["last_entry_id"] < entry_id:
                raise _Mismatch(SINK_ORPHANED.format(cp=record["id"], entry=record["last_entry_id"]))
            self.entries += 1
            if entry_hash(linked_to, dict(zip(HASHED_FIELDS, row[3:], strict=True))) != stored:
                raise _Mismatch(ENTRY_ALTERED.format(id=entry_id))
            if linked_to != prev_hash:
                raise _Mismatch(ENTRY_UNLINKED.format(id=entry_id, prev=prev_id))
            here = None
            if cp is not None and cp.last_entry_id == entry_id:
                self._check_checkpoint(cp, stored, prev_cp)
                prev_cp = here = cp
                cp = next(db, None)
            if record is not None and record["last_entry_id"] == entry_id:
                self._check_record(record, stored, here)
                record = next(sink, None)
            elif here is not None:
                self.unsunk.append(here)
            prev_id, prev_hash = entry_id, stored
        last = prev_id or 0
        if cp is not None:
            raise _Mismatch(CHECKPOINT_BEYOND.format(cp=cp.pk, entry=cp.last_entry_id, last=last))
        if record is not None:
            raise _Mismatch(
                SINK_BEYOND.format(
                    cp=record["id"],
                    count=record["entry_count"],
                    entry=record["last_entry_id"],
                    last=last,
                    actual=self.entries,
                )
            )

    def _db_checkpoints(self):
        previous = None
        for cp in AuditCheckpoint.objects.order_by("last_entry_id").iterator(chunk_size=2000):
            if previous is not None and cp.pk < previous.pk:
                raise _Mismatch(CHECKPOINT_ORDER.format(cp=previous.pk))
            previous = cp
            yield cp

    def _sink_records(self, records):
        previous = None
        for record in records:
            if set(record) != set(_SINK_TYPES) or any(
                type(record[name]) is not kind for name, kind in _SINK_TYPES.items()
            ):
                raise _Mismatch(SINK_SHAPE.format(record=record))
            if previous is not None and (
                record["id"] <= previous["id"] or record["last_entry_id"] <= previous["last_entry_id"]
            ):
                raise _Mismatch(SINK_ORDER.format(cp=record["id"]))
            previous = record
            yield record

    def _check_checkpoint(self, cp: AuditCheckpoint, head_hash: str, prev_cp: AuditCheckpoint | None) -> None:
        self.checkpoints += 1
        if cp.head_hash != head_hash:
            raise _Mismatch(CHECKPOINT_HEAD.format(cp=cp.pk, entry=cp.last_entry_id))
        if cp.entry_count != self.entries:
            raise _Mismatch(
                CHECKPOINT_COUNT.format(cp=cp.pk, claimed=cp.entry_count, entry=cp.last_entry_id, actual=self.entries)
            )
        if cp.prev_signature != (prev_cp.signature if prev_cp else ""):
            prev = f"#{prev_cp.pk}" if prev_cp else "it is the first, yet names a previous signature"
            raise _Mismatch(CHECKPOINT_UNLINKED.format(cp=cp.pk, prev=prev))
        why = self._signature_problem(cp)
        if why:
            raise _Mismatch(CHECKPOINT_SIGNATURE.format(cp=cp.pk, why=why))

    def _signature_problem(self, cp: AuditCheckpoint) -> str | None:
        if cp.key_id not in self._keys:
            self._keys[cp.key_id] = SigningKey.objects.filter(kid=cp.key_id).first()
        key = self._keys[cp.key_id]
        if key is None:
            return f"no signing key has the id {cp.key_id}"
        if key.purpose != Purpose.AUDIT_CHECKPOINT:
            return f"key {key.kid} signs for {key.purpose}, not for audit checkpoints"
        # A key marked compromised still verifies here: what it signed before is not void, and forging
        # a checkpoint would also need the external sink rewritten.
        message = checkpoint_text({name: getattr(cp, name) for name in SIGNED_FIELDS}).encode()
        try:
            public_key(key).verify(b64url_decode(cp.signature), message)
        except (InvalidSignature, ValueError):
            return f"it was not made by key {key.kid} over these fields"
        return None

    def _check_record(self, record: dict, head_hash: str, here: AuditCheckpoint | None) -> None:
        self.sink_checkpoints += 1
        if record["head_hash"] != head_hash or record["entry_count"] != self.entries:
            raise _Mismatch(SINK_HEAD.format(cp=record["id"], entry=record["last_entry_id"]))
        if here is None:
            raise _Mismatch(SINK_MISSING.format(cp=record["id"], entry=record["last_entry_id"]))
        if checkpoint_record(here) != record:
            raise _Mismatch(SINK_CONTRADICTS.format(cp=record["id"], db=here.pk))
