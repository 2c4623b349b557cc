"""OTLP/HTTP traces → steps (pure apart from the settings it reads).

Both encodings decode into `ExportTraceServiceRequest` (opentelemetry-proto): protobuf as the SDK's standard
exporter sends it, and OTLP/JSON, whose trace and span ids are hex (the protobuf JSON mapping would read them
as base64) — ids in base64, as some exporters send them, are accepted too. A span that cannot be a step
(malformed ids, no start, a start in the future or past retention) is rejected by itself and counted; the
others are kept (OTLP's partial success).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agentiam import jsonsafe
from audit.events.ingest import steps as s
from audit.events.ingest.steps import Claimed, Step

ERR_PROTOBUF = "The body is not an OTLP ExportTraceServiceRequest in protobuf: {error}"
ERR_JSON = "The body is not an OTLP/JSON ExportTraceServiceRequest: {error}"
ERR_TOO_MANY = "The request holds {count} spans; at most {limit} are accepted in one request."
REJECT_IDS = "span {index}: traceId must be 16 bytes and spanId 8 bytes, not all zero"
REJECT_PARENT = "span {index}: parentSpanId must be empty or 8 bytes"
REJECT_START = "span {index}: startTimeUnixNano is missing"
REJECT_END = "span {index}: endTimeUnixNano is before startTimeUnixNano"
REJECT_FUTURE = "span {index}: starts more than {skew} s in the future"
REJECT_OLD = "span {index}: starts before the {days} days of events kept"

_TOOL_IN_NAME = re.compile(r"tools/call\s+(\S+)\s*$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpRefused(Exception):
    """The whole request is refused (status, message): it is not OTLP, or too large."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Decoded:
    steps: list[Step] = field(default_factory=list)
    rejected: int = 0
    messages: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.messages) < 10:
            self.messages.append(message)


# --- decoding -------------------------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as error:
        raise OtlpRefused(400, ERR_PROTOBUF.format(error=error or "malformed")) from None
    return request


def _hex_to_base64(value: Any) -> Any:
    """OTLP/JSON ids are hex; the protobuf JSON mapping wants base64. Leave base64 (24 or 12 characters with
    padding, or anything that is not plain hex) as it is."""
    if isinstance(value, str) and value and len(value) % 2 == 0 and _HEX.match(value):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    return value


def _fix_ids(document: Any) -> None:
    if not isinstance(document, dict):
        return
    for resource_spans in document.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            continue
        for scope_spans in resource_spans.get("scopeSpans") or []:
            if not isinstance(scope_spans, dict):
                continue
            for span in scope_spans.get("spans") or []:
                if not isinstance(span, dict):
                    continue
                for name in _ID_FIELDS:
                    if name in span:
                        span[name] = _hex_to_base64(span[name])
                for link in span.get("links") or []:
                    if isinstance(link, dict):
                        for name in ("traceId", "spanId"):
                            if name in link:
                                link[name] = _hex_to_base64(link[name])


def decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = jsonsafe.loads(body)
    except jsonsafe.JsonRefused as error:
        raise OtlpRefused(400, ERR_JSON.format(error=error.detail)) from None
    _fix_ids(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, RecursionError, binascii.Error) as error:
        raise OtlpRefused(400, ERR_JSON.format(error=error)) from None
    return request


def response(rejected: int, messages: list[str], *, as_json: bool) -> tuple[bytes, str]:
    """OTLP's answer in the request's encoding: partial success with the rejected count and why."""
    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.rejected_spans = rejected
        answer.partial_success.error_message = "; ".join(messages)[:2000]
    if as_json:
        return json_format.MessageToJson(answer, indent=None).encode(), "application/json"
    return answer.SerializeToString(), "application/x-protobuf"


# --- spans → steps ------------------------------------------------------------------------------------------------


def _value(any_value, depth: int = 0) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v, depth + 1) for v in any_value.array_value.values[: s.MAX_ITEMS]] if depth < 4 else []
    if kind == "kvlist_value":
        if depth >= 4:
            return {}
        return {kv.key: _value(kv.value, depth + 1) for kv in any_value.kvlist_value.values[: s.MAX_ITEMS]}
    if kind == "bytes_value":
        return base64.b64encode(any_value.bytes_value[:768]).decode("ascii")
    if kind == "int_value":
        return int(any_value.int_value)
    if kind == "string_value":
        return _text(any_value.string_value)
    return getattr(any_value, kind)


def _text(value: str) -> str:
    """PostgreSQL text holds no NUL character: a producer's NUL becomes U+FFFD."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def attributes_of(key_values) -> dict[str, Any]:
    return {_text(kv.key): _value(kv.value) for kv in key_values}


def _time(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=nanos // 1000)


def _tool_of(name: str, attributes: dict[str, Any]) -> str:
    for key in ("agentiam.tool.key", "gen_ai.tool.name", "mcp.tool.name"):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    match = _TOOL_IN_NAME.search(_text(name))
    return match.group(1)[:200] if match else ""


def _decision(attributes: dict[str, Any]) -> uuid.UUID | None:
    value = attributes.get("agentiam.decision.id")
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _step(span, resource: dict[str, Any], now: datetime, index: int, out: Decoded) -> Step | None:
    trace_id, span_id, parent = span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex()
    if (
        not s.HEX_TRACE.match(trace_id)
        or not s.HEX_SPAN.match(span_id)
        or set(trace_id) == {"0"}
        or set(span_id) == {"0"}
    ):
        out.reject(REJECT_IDS.format(index=index))
        return None
    if parent and (not s.HEX_SPAN.match(parent) or set(parent) == {"0"}):
        if set(parent) == {"0"} and s.HEX_SPAN.match(parent):
            parent = ""
        else:
            out.reject(REJECT_PARENT.format(index=index))
            return None
    if not span.start_time_unix_nano:
        out.reject(REJECT_START.format(index=index))
        return None
    started = _time(span.start_time_unix_nano)
    ended = _time(span.end_time_unix_nano) if span.end_time_unix_nano else None
    if ended is not None and ended < started:
        out.reject(REJECT_END.format(index=index))
        return None
    skew = settings.EVENTS_MAX_FUTURE_SKEW
    if started > now + timedelta(seconds=skew):
        out.reject(REJECT_FUTURE.format(index=index, skew=skew))
        return None
    days = settings.EVENTS_RETENTION_DAYS
    if started < now - timedelta(days=days):
        out.reject(REJECT_OLD.format(index=index, days=days))
        return None

    attributes = attributes_of(span.attributes)
    everything = {**resource, **attributes}
    kept, content = s.keep(everything, store_content=settings.EVENTS_STORE_CONTENT)
    method = attributes.get("mcp.method.name")
    operation = str(attributes.get("gen_ai.operation.name") or "")
    tool = _tool_of(span.name, attributes)
    if method == "tools/call" and not operation:
        operation = "execute_tool"
    error_type = str(attributes.get("error.type") or "")[:100]
    if span.status.code == 2 or error_type:
        outcome = "error"
        error_type = error_type or _text(span.status.message or "error")[:100]
    else:
        outcome = "ok"
    action = str(attributes.get("agentiam.action") or "")
    step = Step(
        uuid=s.span_uuid(trace_id, span_id),
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        started_at=started,
        ended_at=ended,
        source="otlp",
        claimed=Claimed(
            agent_id=str(attributes.get("gen_ai.agent.id") or "")[:2048],
            service_name=str(resource.get("service.name") or "")[:2048],
            agent_name=str(attributes.get("gen_ai.agent.name") or "")[:200],
        ),
        name=_text(span.name)[:200],
        operation=operation[:40],
        tool_key=tool,
        action=action if action in s.ACTIONS else "",
        resource=s.resource_of(attributes),
        decision_id=_decision(attributes),
        outcome=outcome,
        error_type=error_type,
        attributes=kept,
        content=content,
        kind=span.kind,
    )
    request_id = attributes.get("jsonrpc.request.id", attributes.get("mcp.request.id"))
    if method == "tools/call" and request_id not in (None, "") and tool:
        step.fold_key = s.call_uuid(trace_id, str(request_id), tool)
        step.server_side = span.kind == s.KIND_SERVER
        step.fold_rank = s.RANK_SERVER if step.server_side else s.RANK_CLIENT
    elif operation == "execute_tool" and tool:
        step.fold_rank = s.RANK_AGENT  # the framework's own span of the call, in the agent's process
    return step


def steps_of(request: ExportTraceServiceRequest, *, now: datetime) -> Decoded:
    out = Decoded()
    count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if count > settings.EVENTS_MAX_BATCH:
        raise OtlpRefused(413, ERR_TOO_MANY.format(count=count, limit=settings.EVENTS_MAX_BATCH))
    index = 0
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                step = _step(span, resource, now, index, out)
                if step is not None:
                    out.steps.append(step)
                index += 1
    inherit_agent(out.steps)
    out.steps = fold(out.steps)
    return out


# --- within one request: who acted, and one step per tool call -------------------------------------------------------


def inherit_agent(batch: list[Step]) -> None:
    """A span without agent attributes (an execute_tool, an MCP CLIENT span) acts for the nearest ancestor in
    the same request that has them — the invoke_agent span above it, in the same process."""
    by_span = {(step.trace_id, step.span_id): step for step in batch}
    for step in batch:
        if step.claimed.agent_id or step.claimed.agent_name or step.server_side:
            continue
        seen = 0
        parent = by_span.get((step.trace_id, step.parent_span_id))
        while parent is not None and seen < 256:
            if parent.server_side:
                break
            if parent.claimed.agent_id or parent.claimed.agent_name:
                step.claimed.agent_id = parent.claimed.agent_id
                step.claimed.agent_name = parent.claimed.agent_name
                break
            parent = by_span.get((parent.trace_id, parent.parent_span_id))
            seen += 1


def fold(batch: list[Step]) -> list[Step]:
    """One step per MCP tool call: the spans of one call (same MCP request id and tool in the trace) and the
    framework's execute_tool span above them become one step, spoken for by the highest rank."""
    by_span = {(step.trace_id, step.span_id): step for step in batch}
    group: dict[int, int] = {}  # id(step) → id(its group's first step)

    def root(step: Step) -> int:
        key = id(step)
        while group.get(key, key) != key:
            key = group[key]
        return key

    def join(a: Step, b: Step) -> None:
        group[root(b)] = root(a)

    first_of_call: dict[Any, Step] = {}
    for step in batch:
        if step.fold_key is None:
            continue
        if step.fold_key in first_of_call:
            join(first_of_call[step.fold_key], step)
        else:
            first_of_call[step.fold_key] = step
        parent = by_span.get((step.trace_id, step.parent_span_id))
        if parent is not None and parent.operation == "execute_tool" and parent.tool_key == step.tool_key:
            join(parent, step)
    members: dict[int, list[Step]] = {}
    for step in batch:
        members.setdefault(root(step), []).append(step)
    out = []
    for step in batch:
        together = members[root(step)]
        if together[0] is not step:
            continue
        out.append(merge(together) if len(together) > 1 or step.fold_key is not None else step)
    return out


def speaker(spans: list[Step]) -> Step:
    """Which span of a call speaks for it: the highest rank; among equals the outermost (its parent is not one
    of the call's spans — fastmcp's CLIENT span around the SDK's), then the earliest."""
    ids = {step.span_id for step in spans} | {one for step in spans for one in step.folded}
    return min(spans, key=lambda step: (-step.fold_rank, step.parent_span_id in ids, step.started_at))


def merge(spans: list[Step]) -> Step:
    """The spans of one tool call as one step (pure): the speaker's fields, the earliest start and latest end,
    an error if any span saw one, the others' span ids kept. Its id is the call's (MCP request id and tool)
    when it has one, so a later span of the same call finds it."""
    best = speaker(spans)
    merged = Step(**{**best.__dict__})
    keys = [step.fold_key for step in spans if step.fold_key is not None]
    merged.fold_key = keys[0] if keys else None
    merged.uuid = merged.fold_key or best.uuid
    merged.started_at = min(step.started_at for step in spans)
    ends = [step.ended_at for step in spans if step.ended_at is not None]
    merged.ended_at = max(ends) if ends else None
    merged.attributes, merged.content = {}, {}
    for step in sorted(spans, key=lambda step: step.fold_rank):
        merged.attributes.update(step.attributes)
        merged.content.update(step.content)
    merged.attributes.update(best.attributes)
    errors = [step for step in spans if step.outcome == "error"]
    if errors:
        merged.outcome, merged.error_type = "error", errors[0].error_type
    every = {step.span_id for step in spans} | {one for step in spans for one in step.folded}
    merged.folded = sorted(every - {best.span_id})
    merged.fold_rank = best.fold_rank
    merged.server_side = all(step.server_side for step in spans)
    if merged.decision_id is None:
        merged.decision_id = next((step.decision_id for step in spans if step.decision_id), None)
    if best.server_side:  # the tool server's span never names the actor
        merged.claimed = next((step.claimed for step in spans if not step.server_side), best.claimed)
    return merged
