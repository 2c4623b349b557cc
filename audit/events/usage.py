"""Entitlements' last use and daily use (`identities.EntitlementUsage`), kept current in batches by beat
(`audit.events.tasks.count_entitlement_use`, every EVENTS_USAGE_TICK seconds).

What counts as a use of an entitlement (its identity, tool and action, while it was in force):

- an **allow decision** of the gateway (the decision log), at its time;
- an **event sent with the identity's own task token** (`token_jti`: the request's bearer token or the event's
  own, resolved to this identity) that no gateway decision claims, at its start (never later than its ingest).

An event joined to a gateway decision — naming it (`decision_id`) or sharing its trace and span (decided within a
day of the event's start, so the probe prunes the decision log's partitions at run time) — is that
decision's use, counted once, from the decision log: so an event sent with only an ingest key never makes an
entitlement look used, even one that names a real decision's id. Quarantined events never count.

Each source has a `UsageCursor`: a high-water mark over its id sequence. Rows commit out of id order (COPY
batches, decisions inside a per-call transaction), so a batch reads only up to `safe_id`: the sequence's value
at a mark, once every transaction open when the mark was taken has ended. One transaction per batch reads the
rows, adds their counts (INSERT … ON CONFLICT DO UPDATE, count + n, the later last use) and moves the cursor —
a crash rolls all three back, a second worker skips the locked cursor, so a re-run never counts twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from audit.events.models import UsageCursor

DECISIONS, EVENTS = "decisions", "events"
SEQUENCES = {DECISIONS: "runtime_policydecision_id_seq", EVENTS: "audit_events_actionevent_id_seq"}
# A decision's id comes from the sequence moments after its decided_at; reading from an hour before the last
# one counted lets PostgreSQL prune the decision log's partitions without ever missing one.
DECISION_SLACK = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BATCHES = 20  # per source and run; the next tick goes on

_LIVE_VXIDS = """
SELECT l.virtualxid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'virtualxid' AND l.granted AND a.datname = current_database() AND l.pid <> pg_backend_pid()
"""

_DECISIONS = """
SELECT d.id, d.identity_id, d.tool_key, d.action, d.decided_at
  FROM runtime_policydecision d
 WHERE d.id > %(done)s AND d.id <= %(safe)s AND d.decided_at >= %(since)s
   AND d.decision = 'allow' AND d.identity_id IS NOT NULL
 ORDER BY d.id
 LIMIT %(limit)s
"""
_LAST_DECISION_ID = """
SELECT max(d.id), max(d.decided_at) FROM runtime_policydecision d
 WHERE d.id > %(done)s AND d.id <= %(safe)s AND d.decided_at >= %(since)s
"""

_EVENTS = """
SELECT e.id, e.identity_id, e.tool_key, e.action, LEAST(e.started_at, e.ingested_at)
  FROM audit_events_actionevent e
 WHERE e.id > %(done)s AND e.id <= %(safe)s
   AND e.identity_id IS NOT NULL AND e.quarantine = '' AND e.token_jti <> '' AND e.decision_id IS NULL
   AND e.tool_key <> '' AND e.action <> ''
   AND NOT EXISTS (SELECT 1 FROM runtime_policydecision d
                    WHERE d.trace_id = e.trace_id AND d.trace_id <> ''
                      AND d.decided_at BETWEEN e.started_at - interval '1 day' AND e.started_at + interval '1 day'
                      AND (d.span_id = e.span_id OR d.span_id = ANY(e.folded_span_ids)))
 ORDER BY e.id
 LIMIT %(limit)s
"""

_ADD = """
INSERT INTO identities_entitlementusage (entitlement_id, day, count, last_used_at)
SELECT e.id, u.day, sum(u.n), max(u.last_at)
  FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::date[], %s::int[], %s::timestamptz[], %s::timestamptz[])
       AS u(identity_id, tool_key, action, day, n, first_at, last_at)
  JOIN identities_tool t ON t.key = u.tool_key
  JOIN identities_entitlement e ON e.identity_id = u.identity_id AND e.tool_id = t.id AND e.action = u.action
 WHERE e.granted_at <= u.last_at
   AND (e.revoked_at IS NULL OR e.revoked_at > u.first_at)
   AND (e.expires_at IS NULL OR e.expires_at > u.first_at)
 GROUP BY e.id, u.day
ON CONFLICT (entitlement_id, day) DO UPDATE
   SET count = identities_entitlementusage.count + EXCLUDED.count,
       last_used_at = GREATEST(identities_entitlementusage.last_used_at, EXCLUDED.last_used_at)
"""


@dataclass
class Summary:
    uses: int = 0  # uses read (decisions and events)
    batches: int = 0
    busy: bool = False  # another run held a cursor


def _live_vxids(cursor) -> set[str]:
    cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is otherwise read once a transaction
    cursor.execute(_LIVE_VXIDS)
    return {row[0] for row in cursor.fetchall()}


def _settle(cursor, state: UsageCursor) -> None:
    """Move safe_id to the pending mark once the transactions open at the mark have all ended; take a new
    mark when none is pending (settled at once when nothing else was open)."""
    for _ in range(2):
        if state.mark_id is None:
            cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCES[state.name]}")  # noqa: S608 - constant
            value, called = cursor.fetchone()
            state.mark_id, state.mark_vxids = (value if called else 0), sorted(_live_vxids(cursor))
        if set(state.mark_vxids) & _live_vxids(cursor):
            return
        state.safe_id = max(state.safe_id, state.mark_id)
        state.mark_id, state.mark_vxids = None, []


def _add(cursor, rows) -> None:
    """Fold (id, identity, tool, action, time) rows into per-day counts and add them to EntitlementUsage."""
    days: dict[tuple, list] = defaultdict(lambda: [0, None, None])
    for _id, identity, tool, action, at in rows:
        key = (identity, tool, action, at.astimezone(UTC).date())
        entry = days[key]
        entry[0] += 1
        entry[1] = at if entry[1] is None or at < entry[1] else entry[1]
        entry[2] = at if entry[2] is None or at > entry[2] else entry[2]
    if not days:
        return
    columns = list(zip(*[(*key, n, first, last) for key, (n, first, last) in days.items()], strict=True))
    cursor.execute(_ADD, [list(column) for column in columns])


def _batch(name: str, size: int) -> tuple[int, bool, bool]:
    """One transaction: (rows counted, more may follow, the cursor was busy)."""
    with transaction.atomic(), connection.cursor() as cursor:
        state = UsageCursor.objects.select_for_update(skip_locked=True).filter(name=name).first()
        if state is None:
            return 0, False, True
        _settle(cursor, state)
        params = {"done": state.done_id, "safe": state.safe_id, "limit": size}
        if name == DECISIONS:
            params["since"] = (state.done_at - DECISION_SLACK) if state.done_at else EPOCH
            cursor.execute(_DECISIONS, params)
        else:
            cursor.execute(_EVENTS, params)
        rows = cursor.fetchall()
        _add(cursor, rows)
        full = len(rows) == size
        if full:
            state.done_id = rows[-1][0]
        else:
            state.done_id = state.safe_id
        if name == DECISIONS:
            # The latest decided_at of everything passed (deny decisions included), so the window keeps moving.
            last_at = max((row[4] for row in rows), default=None)
            if not full:
                cursor.execute(_LAST_DECISION_ID, params)
                last_at = cursor.fetchone()[1] or last_at
            if last_at is not None and (state.done_at is None or last_at > state.done_at):
                state.done_at = last_at
        state.counted += len(rows)
        state.save()
        return len(rows), full, False


def count_new_use(*, batch: int | None = None) -> Summary:
    """Count every use committed since the last run (up to MAX_BATCHES batches per source)."""
    size = batch or settings.EVENTS_USAGE_BATCH
    summary = Summary()
    for name in (DECISIONS, EVENTS):
        UsageCursor.objects.get_or_create(name=name)
        for _ in range(MAX_BATCHES):
            counted, more, busy = _batch(name, size)
            summary.uses += counted
            summary.batches += 1
            summary.busy = summary.busy or busy
            if not more:
                break
    return summary
