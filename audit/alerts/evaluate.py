"""Evaluating new action events: batched, idempotent, resumable.

The high-water mark is `DetectorCursor.done_id` over the events' ingest sequence (`ActionEvent.id`). Ingest
writes with COPY in transactions that commit out of order, so a sequence value does not mean every smaller id
is visible yet. The evaluator reads only up to `safe_id`, advanced by a two-step mark: it reads the sequence's
current value L, then the virtual transaction ids of every other open transaction in this database (every
transaction has one, even before it writes). Any transaction that drew an id <= L drew it before L was read,
so it was among those open then or had already finished; once none of them is open any more, every id <= L is
final (committed, or rolled back and never coming). A transaction left open indefinitely holds the mark, and
with it the alerts, back: `DetectorCursor.mark_at` shows for how long.

Each batch is one transaction: the events' steps, the traces they belong to (every stored step of each —
late spans of a trace reopen it and the whole trace is judged again), the identities' facts and baselines
are read, the pure detectors run (audit.alerts.detectors), alerts are inserted ON CONFLICT DO NOTHING on
(rule, identity, scope), the baselines take the batch in, and the cursor moves past it — all or nothing, so
a worker killed mid-batch leaves no trace of it, and a re-run raises nothing twice.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.alerts import detectors as d
from audit.alerts.models import DetectorCursor
from audit.alerts.notify import alerts_raised

CURSOR = "detectors"
TABLE = "audit_events_actionevent"  # audit.events.partitions.TABLE (apps above audit import no sibling)
SEQUENCE = "audit_events_actionevent_id_seq"
TRACE_REACH = timedelta(days=1)  # how far either side of a batch a trace's other steps are looked for
_STEPS = f"""
SELECT id, started_at, identity_id, trace_id, span_id, parent_span_id, folded_span_ids, tool_key, action,
       decision_id, token_jti, task_id
FROM {TABLE} WHERE id > %s AND id <= %s AND identity_id IS NOT NULL
"""  # noqa: S608 - constants
_TRACE_STEPS = f"""
SELECT id, started_at, identity_id, trace_id, span_id, parent_span_id, folded_span_ids, tool_key, action,
       decision_id, token_jti, task_id
FROM {TABLE} WHERE trace_id = ANY(%s) AND started_at >= %s AND started_at <= %s AND identity_id IS NOT NULL
"""  # noqa: S608 - constants
_LIVE_VXIDS = """
SELECT l.virtualxid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'virtualxid' AND l.granted AND a.datname = current_database() AND l.pid <> pg_backend_pid()
"""
_INSERT_ALERT = """
INSERT INTO audit_alerts_alert (uuid, rule, severity, identity_id, scope, trace_id, title, reasons, event_ids,
    first_event_at, last_event_at, raised_at, state, resolution, suppress_reason, suppressed_until)
SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
       CASE WHEN s.until IS NULL THEN 'open' ELSE 'suppressed' END, '',
       CASE WHEN s.until IS NULL THEN '' ELSE 'suppressed with an earlier alert of this rule' END, s.until
FROM (SELECT max(suppressed_until) AS until FROM audit_alerts_alert
      WHERE rule = %s AND identity_id = %s AND state = 'suppressed' AND suppressed_until > %s) s
ON CONFLICT (rule, identity_id, scope) DO NOTHING
RETURNING id
"""
_UPSERT_USE = """
INSERT INTO audit_alerts_baselineuse (identity_id, tool_key, action, first_seen, last_seen, count)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[])
ON CONFLICT (identity_id, tool_key, action) DO UPDATE SET
    first_seen = LEAST(audit_alerts_baselineuse.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(audit_alerts_baselineuse.last_seen, EXCLUDED.last_seen),
    count = audit_alerts_baselineuse.count + EXCLUDED.count
"""
_UPSERT_WINDOW = """
INSERT INTO audit_alerts_activitywindow (identity_id, start, events, denials)
SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::int[], %s::int[])
ON CONFLICT (identity_id, start) DO UPDATE SET
    events = audit_alerts_activitywindow.events + EXCLUDED.events,
    denials = audit_alerts_activitywindow.denials + EXCLUDED.denials
"""

# Called inside each batch's transaction after its writes (tests inject a crash here).
_after_batch_writes = None


@dataclass
class Summary:
    batches: int = 0
    events: int = 0
    alerts: int = 0
    done_id: int = 0
    safe_id: int = 0
    busy: bool = False  # another evaluator holds the cursor


def thresholds() -> d.Thresholds:
    return d.Thresholds(
        warmup=timedelta(days=settings.ALERTS_WARMUP_DAYS),
        denials=settings.ALERTS_DENIALS,
        volume_factor=settings.ALERTS_VOLUME_FACTOR,
        volume_floor=settings.ALERTS_VOLUME_FLOOR,
        depth=settings.ALERTS_CHAIN_DEPTH,
        fan_out=settings.ALERTS_CHAIN_FAN_OUT,
        workflows=settings.ALERTS_WORKFLOWS,
    )


# --- the safe bound ---------------------------------------------------------------------------------------------


def _sequence_value(cursor) -> int:
    cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE}")  # noqa: S608 - constant
    value, called = cursor.fetchone()
    return value if called else 0


def _live_vxids(cursor) -> set[str]:
    cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is otherwise read once a transaction
    cursor.execute(_LIVE_VXIDS)
    return {row[0] for row in cursor.fetchall()}


def settle(state: DetectorCursor) -> None:
    """Move `safe_id` to the pending mark once every transaction open when it was taken has ended; take a new
    mark when none is pending (and settle it at once when nothing else was open)."""
    with connection.cursor() as cursor:
        for _ in range(2):
            if state.mark_id is None:
                state.mark_id = _sequence_value(cursor)
                state.mark_vxids = sorted(_live_vxids(cursor))
                state.mark_at = timezone.now()
            if set(state.mark_vxids) & _live_vxids(cursor):
                return
            state.safe_id = max(state.safe_id, state.mark_id)
            state.mark_id, state.mark_vxids, state.mark_at = None, [], None


# --- reading the inputs ---------------------------------------------------------------------------------------


def _steps(rows, decisions: dict, workflows: dict) -> list[d.Step]:
    return [
        d.Step(
            id=r[0],
            started_at=r[1],
            identity_id=r[2],
            trace_id=r[3],
            span_id=r[4],
            parent_span_id=r[5],
            folded_span_ids=tuple(r[6]),
            tool_key=r[7],
            action=r[8],
            decision=decisions.get(r[9], ""),
            token_jti=r[10],
            workflow_id=workflows.get(r[11]),
        )
        for r in rows
    ]


def _decisions(cursor, rows) -> dict:
    ids = list({r[9] for r in rows if r[9] is not None})
    if not ids:
        return {}
    cursor.execute("SELECT uuid, decision FROM runtime_policydecision WHERE uuid = ANY(%s)", [ids])
    return dict(cursor.fetchall())


def _workflows(cursor, rows) -> dict:
    ids = list({r[11] for r in rows if r[11] is not None})
    if not ids:
        return {}
    cursor.execute("SELECT id, workflow_id FROM identities_task WHERE id = ANY(%s) AND workflow_id IS NOT NULL", [ids])
    return dict(cursor.fetchall())


def _facts(cursor, identities: list[int], now: datetime) -> dict[int, d.IdentityFacts]:
    cursor.execute(
        "SELECT e.identity_id, t.key, e.action FROM identities_entitlement e "
        "JOIN identities_tool t ON t.id = e.tool_id "
        "WHERE e.identity_id = ANY(%s) AND e.revoked_at IS NULL AND (e.expires_at IS NULL OR e.expires_at > %s)",
        [identities, now],
    )
    entitled: dict[int, set] = {}
    for identity, key, action in cursor.fetchall():
        entitled.setdefault(identity, set()).add((key, action))
    cursor.execute(
        "SELECT DISTINCT ON (identity_id) identity_id, allowed_tools FROM identities_acceptableuse "
        "WHERE identity_id = ANY(%s) AND valid_from <= %s AND (valid_until IS NULL OR valid_until > %s) "
        "ORDER BY identity_id, version DESC",
        [identities, now, now],
    )
    aup = {identity: tuple(tools) for identity, tools in cursor.fetchall() if tools}
    cursor.execute(
        "SELECT identity_id, array_agg(workflow_id) FROM identities_workflow_identities WHERE identity_id = ANY(%s) "
        "GROUP BY identity_id",
        [identities],
    )
    workflows = dict(cursor.fetchall())
    cursor.execute(
        "SELECT id, environment, status, status_changed_at FROM identities_identity WHERE id = ANY(%s)", [identities]
    )
    return {
        pk: d.IdentityFacts(
            pk,
            environment=env,
            status=status,
            status_changed_at=changed,
            entitled=frozenset(entitled.get(pk, ())),
            acceptable_tools=aup.get(pk),
            workflows=frozenset(workflows.get(pk, ())),
        )
        for pk, env, status, changed in cursor.fetchall()
    }


def _baselines(cursor, identities: list[int], before: datetime) -> dict[int, d.Baseline]:
    since = before - timedelta(days=d.BASELINE_DAYS)
    cursor.execute(
        "SELECT identity_id, array_agg(DISTINCT tool_key) FROM audit_alerts_baselineuse "
        "WHERE identity_id = ANY(%s) AND last_seen >= %s AND tool_key <> '' GROUP BY identity_id",
        [identities, since],
    )
    tools = dict(cursor.fetchall())
    cursor.execute(
        "SELECT identity_id, min(start), array_agg(DISTINCT extract(hour FROM start AT TIME ZONE 'UTC')::int) "
        "FILTER (WHERE start >= %s), count(*) FILTER (WHERE start >= %s), "
        "coalesce(sum(events) FILTER (WHERE start >= %s), 0) "
        "FROM audit_alerts_activitywindow WHERE identity_id = ANY(%s) AND start < %s GROUP BY identity_id",
        [since, since, since, identities, before],
    )
    return {
        pk: d.Baseline(
            since=first,
            tools=frozenset(tools.get(pk, ())),
            hours=frozenset(h for h in hours or () if h is not None),
            windows=windows,
            events=events,
        )
        for pk, first, hours, windows, events in cursor.fetchall()
    }


def _windows(cursor, keys: set) -> dict:
    if not keys:
        return {}
    ids, starts = zip(*keys, strict=True)
    cursor.execute(
        "SELECT w.identity_id, w.start, w.events, w.denials FROM audit_alerts_activitywindow w "
        "JOIN unnest(%s::bigint[], %s::timestamptz[]) k(identity_id, start) USING (identity_id, start)",
        [list(ids), list(starts)],
    )
    return {(pk, start): (events, denials) for pk, start, events, denials in cursor.fetchall()}


def _tools(cursor) -> dict[str, d.ToolFacts]:
    cursor.execute("SELECT key, sensitivity, production FROM identities_tool")
    return {key: d.ToolFacts(key, sensitivity, production) for key, sensitivity, production in cursor.fetchall()}


def _revoked(cursor, steps: list[d.Step]) -> dict[str, datetime]:
    jtis = list({s.token_jti for s in steps if s.token_jti})
    if not jtis:
        return {}
    cursor.execute("SELECT jti, revoked_at FROM runtime_tokenrevocation WHERE jti = ANY(%s)", [jtis])
    return dict(cursor.fetchall())


# --- one batch ------------------------------------------------------------------------------------------------


def _persist(cursor, findings: list[d.Finding], steps: list[d.Step], now: datetime) -> list[int]:
    raised = []
    for f in findings:
        cursor.execute(
            _INSERT_ALERT,
            [
                uuidlib.uuid4(),
                f.rule,
                f.severity,
                f.identity_id,
                f.scope[:64],
                f.trace_id,
                f.title[:300],
                json.dumps(list(f.reasons)),
                list(f.event_ids),
                f.first_at,
                f.last_at,
                now,
                f.rule,
                f.identity_id,
                now,
            ],
        )
        row = cursor.fetchone()
        if row:
            raised.append(row[0])
    uses: dict[tuple, list] = {}
    windows: dict[tuple, list] = {}
    for s in steps:
        if s.tool_key:
            use = uses.setdefault((s.identity_id, s.tool_key, s.action), [s.started_at, s.started_at, 0])
            use[0], use[1], use[2] = min(use[0], s.started_at), max(use[1], s.started_at), use[2] + 1
        window = windows.setdefault((s.identity_id, d.window_of(s.started_at)), [0, 0])
        window[0] += 1
        window[1] += s.denied
    if uses:
        keys, values = list(uses), list(uses.values())
        cursor.execute(
            _UPSERT_USE,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [k[2] for k in keys],
                [v[0] for v in values],
                [v[1] for v in values],
                [v[2] for v in values],
            ],
        )
    if windows:
        keys, values = list(windows), list(windows.values())
        cursor.execute(
            _UPSERT_WINDOW, [[k[0] for k in keys], [k[1] for k in keys], [v[0] for v in values], [v[1] for v in values]]
        )
    return raised


def _batch(state: DetectorCursor, size: int, tools: dict, th: d.Thresholds) -> tuple[int, int, int]:
    """(events evaluated, alerts raised, the new done_id) for the ids after done_id, at most `size` of them."""
    high = min(state.safe_id, state.done_id + size)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_STEPS + " ORDER BY id", [state.done_id, high])
        rows = cursor.fetchall()
        decisions, workflows = _decisions(cursor, rows), _workflows(cursor, rows)
        steps = _steps(rows, decisions, workflows)
        if not steps:  # a gap (rolled-back batches, duplicates skipped, quarantine): on to the next event
            cursor.execute(f"SELECT min(id) FROM {TABLE} WHERE id > %s AND id <= %s", [high, state.safe_id])  # noqa: S608
            following = cursor.fetchone()[0]
            return 0, 0, high if following is None or following - 1 <= high else following - 1
        traces: dict[str, list[d.Step]] = {}
        low_at = min(s.started_at for s in steps) - TRACE_REACH
        high_at = max(s.started_at for s in steps) + TRACE_REACH
        # A trace split across batches has, in the later batch, a step whose parent is not in it (its parent
        # came earlier): only those traces are read back whole. The others are judged from the batch alone.
        spans = {span for s in steps for span in (s.span_id, *s.folded_span_ids)}
        reopened = sorted({s.trace_id for s in steps if s.parent_span_id and s.parent_span_id not in spans})
        trace_rows = []
        if reopened:
            cursor.execute(_TRACE_STEPS + " AND id <= %s", [reopened, low_at, high_at, state.done_id])
            trace_rows = cursor.fetchall()
        for step in steps:
            traces.setdefault(step.trace_id, []).append(step)
        trace_decisions = {**decisions, **_decisions(cursor, [r for r in trace_rows if r[9] not in decisions])}
        for step in _steps(trace_rows, trace_decisions, workflows):  # earlier batches' steps of reopened traces
            traces[step.trace_id].append(step)
        identities = sorted({s.identity_id for s in steps})
        earliest = min(s.started_at for s in steps)
        inputs = d.Inputs(
            steps=steps,
            traces=traces,
            facts=_facts(cursor, identities, now),
            baselines=_baselines(cursor, identities, d.window_of(earliest)),
            tools=tools,
            revoked=_revoked(cursor, steps),
            windows=_windows(cursor, {(s.identity_id, d.window_of(s.started_at)) for s in steps}),
            thresholds=th,
        )
        findings = d.evaluate(inputs)
        raised = _persist(cursor, findings, steps, now)
    if raised:
        alerts_raised(raised)
    return len(steps), len(raised), high


def evaluate_new_events(*, batch: int | None = None, max_batches: int | None = None) -> Summary:
    """Evaluate the committed events after the high-water mark, one transaction per batch."""
    size = batch or settings.ALERTS_BATCH
    DetectorCursor.objects.get_or_create(name=CURSOR)
    summary = Summary()
    tools: dict | None = None
    th = thresholds()
    while max_batches is None or summary.batches < max_batches:
        with transaction.atomic():
            state = DetectorCursor.objects.select_for_update(skip_locked=True).filter(name=CURSOR).first()
            if state is None:
                summary.busy = True
                return summary
            settle(state)
            summary.safe_id = state.safe_id
            if state.done_id >= state.safe_id:
                state.save(update_fields=["safe_id", "mark_id", "mark_vxids", "mark_at", "updated_at"])
                break
            if tools is None:
                with connection.cursor() as cursor:
                    tools = _tools(cursor)
            events, alerts, done = _batch(state, size, tools, th)
            state.done_id, state.evaluated = done, state.evaluated + events
            state.save()
            if _after_batch_writes is not None:
                _after_batch_writes(summary)
        summary.batches += 1
        summary.events += events
        summary.alerts += alerts
        summary.done_id = done
    return summary


__all__ = ["Summary", "evaluate_new_events", "settle", "thresholds"]
