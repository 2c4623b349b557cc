"""Writing resolved steps: PostgreSQL COPY into a temporary staging table, then one INSERT … SELECT … ON CONFLICT
DO NOTHING into the partitioned event table, in the caller's transaction — never a task per event.

Idempotency: a step's `uuid` with its `started_at` is unique, so a re-sent event or span is skipped. A tool
call reported by several spans has one uuid (its fold key) but spans that start at different moments, so it
is looked up a day either side under a transaction-level advisory lock per trace (two requests carrying
spans of one call serialise) and merged into the stored step instead of inserted: the best-ranked span
speaks for it (the calling agent's over the tool server's), the others' span ids are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import DatabaseError, connection, transaction
from psycopg.types.json import Jsonb

from audit.events.ingest.steps import Step
from audit.events.partitions import EVENT_LOG, TABLE

COLUMNS = (
    "uuid", "started_at", "ended_at", "ingested_at", "identity_id", "task_id", "quarantine", "claimed", "trace_id",
    "span_id", "parent_span_id", "folded_span_ids", "name", "operation", "tool_key", "action", "resource",
    "decision_id", "outcome", "error_type", "attributes", "content", "source", "ingest_key_id", "token_jti",
    "fold_rank",
)  # fmt: skip
_COLUMN_LIST = ", ".join(COLUMNS)
STAGING = "audit_events_staging"
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} ON COMMIT DELETE ROWS AS "  # noqa: S608 - constants
    f"SELECT {_COLUMN_LIST} FROM {TABLE} WITH NO DATA"
)
_INSERT = f"""
WITH ins AS (
    INSERT INTO {TABLE} ({_COLUMN_LIST})
    SELECT {_COLUMN_LIST} FROM {STAGING} ORDER BY started_at
    ON CONFLICT (uuid, started_at) DO NOTHING
    RETURNING quarantine
)
SELECT count(*), count(*) FILTER (WHERE quarantine <> '') FROM ins
"""  # noqa: S608 - constants
_STORED_CALLS = f"""
SELECT id, uuid, started_at, ended_at, identity_id, task_id, quarantine, claimed, span_id, parent_span_id,
       folded_span_ids, name, outcome, error_type, attributes, content, decision_id, token_jti, fold_rank,
       trace_id, tool_key
FROM {TABLE}
WHERE trace_id = ANY(%s) AND operation = 'execute_tool' AND started_at >= %s AND started_at <= %s
FOR UPDATE
"""  # noqa: S608 - constants
_STORED_FIELDS = (
    "id", "uuid", "started_at", "ended_at", "identity_id", "task_id", "quarantine", "claimed", "span_id",
    "parent_span_id", "folded_span_ids", "name", "outcome", "error_type", "attributes", "content", "decision_id",
    "token_jti", "fold_rank", "trace_id", "tool_key",
)  # fmt: skip
_MERGE = f"""
UPDATE {TABLE} SET identity_id = %s, task_id = %s, quarantine = %s, claimed = %s, span_id = %s,
       parent_span_id = %s, folded_span_ids = %s, name = %s, ended_at = %s, outcome = %s, error_type = %s,
       attributes = %s, content = %s, decision_id = %s, token_jti = %s, fold_rank = %s
WHERE started_at = %s AND id = %s
"""  # noqa: S608 - constants
# How far apart two spans of one tool call may start (the lookup window; a reused MCP request id later is
# another call).
CALL_WINDOW = timedelta(days=1)

_known_days: set[date] = set()


@dataclass(frozen=True)
class Written:
    accepted: int  # new steps
    duplicates: int  # already stored (or folded into a stored step)
    quarantined: int  # of the new steps, those kept without an identity


def _json(value: dict) -> str:
    return _dumps(value) if value else "{}"


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _row(step: Step, ingested_at: datetime, key_id: int | None) -> tuple:
    # jsonb columns as their text: COPY's text format takes it as is (cheaper than an adapter per value)
    return (
        step.uuid, step.started_at, step.ended_at, ingested_at, step.identity_id, step.task_id, step.quarantine,
        _json(step.claimed.as_json()), step.trace_id, step.span_id, step.parent_span_id, step.folded, step.name,
        step.operation, step.tool_key, step.action, _json(step.resource), step.decision_id, step.outcome,
        step.error_type, _json(step.attributes), _json(step.content), step.source, key_id, step.token_jti,
        step.fold_rank,
    )  # fmt: skip


def _ensure_partitions(days: set[date]) -> None:
    missing = days - _known_days
    if not missing:
        return
    have = set(EVENT_LOG.existing())
    for day in sorted(missing - have):
        EVENT_LOG.create(day, 1)
    # Known only once committed: a rolled-back CREATE leaves nothing behind.
    transaction.on_commit(lambda: _known_days.update(missing))


def _lock_traces(traces: set[str]) -> None:
    with connection.cursor() as cursor:
        for trace in sorted(traces):  # one order for everyone: no deadlock between two requests
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"audit_events:{trace}"])


def _spans(row: dict) -> set[str]:
    return {row["span_id"], *row["folded_span_ids"]}


def same_call(row: dict, step: Step) -> bool:
    """Whether a stored tool-call step and an incoming one are the same call (pure): the same id (span, or MCP
    request id and tool), an MCP span whose parent is part of the stored step, or a stored MCP step whose
    parent is part of the incoming one (the framework's execute_tool span around it)."""
    if row["trace_id"] != step.trace_id or row["tool_key"] != step.tool_key:
        return False
    if abs(row["started_at"] - step.started_at) > CALL_WINDOW:
        return False
    mine = {step.span_id, *step.folded}
    return (
        row["uuid"] == step.uuid
        or (step.fold_key is not None and (row["uuid"] == step.fold_key or step.parent_span_id in _spans(row)))
        or ("mcp.method.name" in row["attributes"] and row["parent_span_id"] in mine)
    )


def merged(row: dict, step: Step) -> dict:
    """The stored step with the incoming span(s) of the same call folded in (pure)."""
    out = dict(row)
    spans = _spans(row) | {step.span_id, *step.folded}
    speaks = step.fold_rank > row["fold_rank"] or (
        step.fold_rank == row["fold_rank"] and row["parent_span_id"] in {step.span_id, *step.folded}
    )
    if speaks:  # the caller's span after the tool server's; the outer CLIENT span after the inner one
        if step.identity_id is not None or row["identity_id"] is None:
            out.update(identity_id=step.identity_id, task_id=step.task_id, quarantine=step.quarantine)
            out["token_jti"] = step.token_jti
        out.update(claimed=step.claimed.as_json(), span_id=step.span_id, parent_span_id=step.parent_span_id)
        out.update(name=step.name, fold_rank=step.fold_rank)
        out["attributes"], out["content"] = {**row["attributes"], **step.attributes}, {**row["content"], **step.content}
    else:
        out["attributes"], out["content"] = {**step.attributes, **row["attributes"]}, {**step.content, **row["content"]}
        if row["identity_id"] is None and step.identity_id is not None:
            out.update(identity_id=step.identity_id, task_id=step.task_id, quarantine="", token_jti=step.token_jti)
    if step.outcome == "error" and row["outcome"] != "error":
        out["outcome"], out["error_type"] = "error", step.error_type
    ends = [value for value in (row["ended_at"], step.ended_at) if value is not None]
    out["ended_at"] = max(ends) if ends else None
    out["folded_span_ids"] = sorted(spans - {out["span_id"]})
    out["decision_id"] = row["decision_id"] or step.decision_id
    return out


def _update(cursor, row: dict) -> None:
    cursor.execute(
        _MERGE,
        [
            row["identity_id"], row["task_id"], row["quarantine"], Jsonb(row["claimed"]), row["span_id"],
            row["parent_span_id"], row["folded_span_ids"], row["name"], row["ended_at"], row["outcome"],
            row["error_type"], Jsonb(row["attributes"]), Jsonb(row["content"]), row["decision_id"],
            row["token_jti"], row["fold_rank"], row["started_at"], row["id"],
        ],
    )  # fmt: skip


def _stored(row: tuple) -> dict:
    out = dict(zip(_STORED_FIELDS, row, strict=True))
    for name in ("claimed", "attributes", "content"):  # Django's connection reads jsonb as text
        if isinstance(out[name], str):
            out[name] = json.loads(out[name])
    return out


def _fold_into_stored(calls: list[Step]) -> tuple[list[Step], int]:
    """Fold the tool-call steps whose call is already stored into it; returns the others (to insert) and how
    many were folded."""
    if not calls:
        return [], 0
    _lock_traces({step.trace_id for step in calls})
    low = min(step.started_at for step in calls) - CALL_WINDOW
    high = max(step.started_at for step in calls) + CALL_WINDOW
    with connection.cursor() as cursor:
        cursor.execute(_STORED_CALLS, [sorted({step.trace_id for step in calls}), low, high])
        stored = [_stored(row) for row in cursor.fetchall()]
        fresh, folded = [], 0
        for step in calls:
            row = next((row for row in stored if same_call(row, step)), None)
            if row is None:
                fresh.append(step)
                continue
            updated = merged(row, step)
            if updated != row:
                _update(cursor, updated)
                stored[stored.index(row)] = updated
            folded += 1
    return fresh, folded


def _is_call(step: Step) -> bool:
    """A tool call from OTLP: its spans may arrive in several requests and fold into one stored step."""
    return step.source == "otlp" and step.operation == "execute_tool" and bool(step.tool_key)


def write(steps: list[Step], *, ingested_at: datetime, key_id: int | None) -> Written:
    """Write the steps in the caller's transaction (`transaction.atomic` around it)."""
    if not steps:
        return Written(0, 0, 0)
    calls = [step for step in steps if step.source == "otlp" and step.operation == "execute_tool" and step.tool_key]
    plain = [
        step for step in steps if not (step.source == "otlp" and step.operation == "execute_tool" and step.tool_key)
    ]
    fresh, folded = _fold_into_stored(calls)
    rows = plain + fresh
    if not rows:
        return Written(0, folded, 0)
    _ensure_partitions({step.started_at.astimezone(UTC).date() for step in rows})
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_STAGING)
        with cursor.cursor.copy(f"COPY {STAGING} ({_COLUMN_LIST}) FROM STDIN") as copy:
            for step in rows:
                copy.write_row(_row(step, ingested_at, key_id))
        try:
            cursor.execute(_INSERT)
        except DatabaseError:
            _known_days.clear()  # a partition dropped since we last looked: the next request re-checks
            raise
        inserted, quarantined = cursor.fetchone()
        cursor.execute(f"TRUNCATE {STAGING}")
    return Written(inserted, len(rows) - inserted + folded, quarantined)
