"""Our JSON event shape → steps (pure apart from the settings it reads).

    {"events": [{"id": "<uuid>", "identity": "<uuid>" | "identifier": "…" | "task_token": "…",
                 "trace_id": "<32 hex>", "span_id": "<16 hex>", "parent_span_id": "<16 hex>" | null,
                 "started_at": "<ISO 8601 with offset>", "ended_at": … | null,
                 "name": "…", "operation": "…", "tool": "…", "action": "read|write|admin|execute",
                 "resource": {…}, "decision_id": "<uuid>" | null, "outcome": "ok|error",
                 "error_type": "…", "attributes": {…}}]}

An envelope that is not this shape is refused whole (`EnvelopeRefused`); an item that is not a valid event is
reported by its index and field, and the valid items are kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from audit.events.ingest import steps as s
from audit.events.ingest.steps import Claimed, Step

ERR_ENVELOPE = 'The body must be an object {"events": [...]} with at least one event.'
ERR_TOO_MANY = "At most {limit} events are accepted in one request."
ERR_OBJECT = "Each event must be a JSON object."
ERR_REQUIRED = "This field is required."
ERR_UUID = "Must be a UUID."
ERR_HEX = "Must be {n} lower-case hexadecimal characters, not all zero."
ERR_TIME = "Must be an ISO 8601 date-time with a UTC offset."
ERR_FUTURE = "Must not be more than {skew} seconds in the future."
ERR_OLD = "Must be within the {days} days of events kept."
ERR_BEFORE_START = "Must not be before started_at."
ERR_ACTION = "Must be one of read, write, admin, execute."
ERR_OUTCOME = "Must be ok or error."
ERR_TEXT = "Must be text of at most {n} characters."
ERR_OBJECT_FIELD = "Must be a JSON object."
ERR_ONE_IDENTITY = "Name the identity once: identity, identifier or task_token."
ERR_NO_IDENTITY = "Name the identity: identity, identifier or task_token (or send the identity's own task token)."
ERR_UNKNOWN = "Unknown field."
ERR_NUL = "Must not contain a NUL character."

FIELDS = frozenset(
    {
        "id", "identity", "identifier", "task_token", "trace_id", "span_id", "parent_span_id", "started_at",
        "ended_at", "name", "operation", "tool", "action", "resource", "decision_id", "outcome", "error_type",
        "attributes",
    }
)  # fmt: skip


class EnvelopeRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Parsed:
    steps: list[tuple[int, Step]] = field(default_factory=list)
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def items_of(document: Any) -> list:
    if not isinstance(document, dict) or not isinstance(document.get("events"), list) or not document["events"]:
        raise EnvelopeRefused(400, ERR_ENVELOPE)
    if len(document["events"]) > settings.EVENTS_MAX_BATCH:
        raise EnvelopeRefused(413, ERR_TOO_MANY.format(limit=settings.EVENTS_MAX_BATCH))
    return document["events"]


def _text(item: dict, name: str, limit: int, errors: dict) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        errors[name] = [ERR_TEXT.format(n=limit)]
        return ""
    return value


def _uuid(item: dict, name: str, errors: dict, *, required: bool = False) -> uuid.UUID | None:
    value = item.get(name)
    if value is None:
        if required:
            errors[name] = [ERR_REQUIRED]
        return None
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        pass
    errors[name] = [ERR_UUID]
    return None


def _hex(item: dict, name: str, pattern, n: int, errors: dict, *, required: bool) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            errors[name] = [ERR_REQUIRED]
        return ""
    if not isinstance(value, str) or not pattern.match(value) or set(value) == {"0"}:
        errors[name] = [ERR_HEX.format(n=n)]
        return ""
    return value


def _time(item: dict, name: str, errors: dict, *, required: bool) -> datetime | None:
    value = item.get(name)
    if value is None:
        if required:
            errors[name] = [ERR_REQUIRED]
        return None
    if not isinstance(value, str):
        parsed = None
    else:
        try:
            parsed = datetime.fromisoformat(value)  # C speed for the usual shape
        except ValueError:
            parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        errors[name] = [ERR_TIME]
        return None
    return parsed


def step_of(item: Any, now: datetime) -> tuple[Step | None, dict[str, list[str]]]:
    if not isinstance(item, dict):
        return None, {"": [ERR_OBJECT]}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - FIELDS)[:5]:
        errors[name] = [ERR_UNKNOWN]
    event_id = _uuid(item, "id", errors, required=True)
    identity = _uuid(item, "identity", errors)
    identifier = _text(item, "identifier", 2048, errors)
    task_token = _text(item, "task_token", 8192, errors)
    if sum(bool(x) for x in (identity, identifier, task_token)) > 1:
        errors["identity"] = [ERR_ONE_IDENTITY]
    trace_id = _hex(item, "trace_id", s.HEX_TRACE, 32, errors, required=True)
    span_id = _hex(item, "span_id", s.HEX_SPAN, 16, errors, required=True)
    parent = _hex(item, "parent_span_id", s.HEX_SPAN, 16, errors, required=False)
    started = _time(item, "started_at", errors, required=True)
    ended = _time(item, "ended_at", errors, required=False)
    if started is not None:
        skew, days = settings.EVENTS_MAX_FUTURE_SKEW, settings.EVENTS_RETENTION_DAYS
        if started > now + timedelta(seconds=skew):
            errors["started_at"] = [ERR_FUTURE.format(skew=skew)]
        elif started < now - timedelta(days=days):
            errors["started_at"] = [ERR_OLD.format(days=days)]
        if ended is not None and ended < started:
            errors["ended_at"] = [ERR_BEFORE_START]
    name = _text(item, "name", 200, errors)
    operation = _text(item, "operation", 40, errors)
    tool = _text(item, "tool", 200, errors)
    action = _text(item, "action", 10, errors)
    if action and action not in s.ACTIONS:
        errors["action"] = [ERR_ACTION]
    outcome = item.get("outcome") or "unset"
    if outcome not in ("ok", "error", "unset"):
        errors["outcome"] = [ERR_OUTCOME]
    error_type = _text(item, "error_type", 100, errors)
    decision_id = _uuid(item, "decision_id", errors)
    objects = {}
    for key in ("resource", "attributes"):
        value = item.get(key) or {}
        if not isinstance(value, dict):
            errors[key] = [ERR_OBJECT_FIELD]
            value = {}
        objects[key] = value
    if errors:
        return None, errors
    kept, content = s.keep(objects["attributes"], store_content=settings.EVENTS_STORE_CONTENT, any_name=True)
    resource = {str(k)[:200]: s._cap(v) for k, v in list(objects["resource"].items())[: s.MAX_ITEMS]}
    return (
        Step(
            uuid=event_id,
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            started_at=started,
            ended_at=ended,
            source="api",
            claimed=Claimed(identity=str(identity or ""), identifier=identifier, task_token=task_token),
            name=name,
            operation=operation,
            tool_key=tool,
            action=action,
            resource=resource,
            decision_id=decision_id,
            outcome=outcome,
            error_type=error_type,
            attributes=kept,
            content=content,
        ),
        {},
    )


def _nul(value: Any, where: str) -> str | None:
    """The dotted path of the first key or string holding a NUL character (PostgreSQL text refuses it)."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if "\x00" in str(key):
                return where or "attributes"
            found = _nul(item, path)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul(item, f"{where}.{index}" if where else str(index))
            if found:
                return found
    return None


def parse(document: Any, *, now: datetime, may_hold_nul: bool = True) -> Parsed:
    """`may_hold_nul`: False when the raw body has no `\\u0000` escape (the only way JSON carries a NUL)."""
    out = Parsed()
    for index, item in enumerate(items_of(document)):
        where = _nul(item, "") if may_hold_nul else None
        if where is not None:
            out.errors[index] = {where.split(".")[0] if where else "": [ERR_NUL]}
            continue
        step, errors = step_of(item, now)
        if step is None:
            out.errors[index] = errors
        else:
            out.steps.append((index, step))
    return out
