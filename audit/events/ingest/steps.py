"""What one ingested event becomes before it is written (pure: no database).

Both input shapes — our JSON events and OTLP spans — turn into `Step`s. Attributes pass an allow-list with
size caps; tool-call arguments, results and message content are set apart in `content` (kept only with
EVENTS_STORE_CONTENT). An MCP tool call reported by several spans (the framework's and the SDK's CLIENT
spans, the tool server's SERVER span) gets one `fold_key`, so it is one step; `fold_rank` says which span
speaks for it (the calling agent's over the tool server's).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Name-based ids: uuid5 of these namespaces and "<trace>:<span>" (or the MCP call), so a re-sent span has
# the id it had the first time.
SPAN_NAMESPACE = uuid.UUID("5b0f8a9e-4c1d-4f3e-9a57-1c7e3d2b6a10")
CALL_NAMESPACE = uuid.UUID("9d3c2e71-8b4a-4c6f-a1d2-0e5f7b9c3a84")

HEX_TRACE = re.compile(r"^[0-9a-f]{32}$")
HEX_SPAN = re.compile(r"^[0-9a-f]{16}$")
ACTIONS = frozenset({"read", "write", "admin", "execute"})

# Which attributes are kept (exact names or prefixes), and how big they may be.
KEPT_PREFIXES = ("gen_ai.", "mcp.", "jsonrpc.", "rpc.", "server.", "agentiam.", "network.", "error.")
KEPT_NAMES = frozenset({"service.name", "service.version", "service.namespace", "deployment.environment.name"})
CONTENT_NAMES = frozenset(
    {
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "input.value",
        "output.value",
    }
)
MAX_ATTRIBUTES = 64
MAX_STRING = 1024
MAX_ITEMS = 32
MAX_VALUE_JSON = 4096
MAX_CONTENT_JSON = 65_536

# Span kinds (OTLP enum values) and the rank of each span of a folded tool call.
KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 1, 2, 3
RANK_SERVER, RANK_CLIENT, RANK_AGENT = 1, 2, 3


@dataclass
class Claimed:
    """What the producer said about who acted; resolution reads it in the documented order."""

    identity: str = ""  # a public id (our JSON shape)
    identifier: str = ""  # a registered identifier (our JSON shape)
    task_token: str = ""  # an access token (our JSON shape)
    agent_id: str = ""  # gen_ai.agent.id
    service_name: str = ""  # resource service.name
    agent_name: str = ""  # gen_ai.agent.name

    def as_json(self) -> dict[str, str]:
        # the token itself is never stored
        return {k: v for k, v in self.__dict__.items() if v and k != "task_token"}


@dataclass
class Step:
    uuid: uuid.UUID
    trace_id: str
    span_id: str
    parent_span_id: str
    started_at: datetime
    ended_at: datetime | None
    source: str
    claimed: Claimed = field(default_factory=Claimed)
    name: str = ""
    operation: str = ""
    tool_key: str = ""
    action: str = ""
    resource: dict = field(default_factory=dict)
    decision_id: uuid.UUID | None = None
    outcome: str = "unset"
    error_type: str = ""
    attributes: dict = field(default_factory=dict)
    content: dict = field(default_factory=dict)
    kind: int = KIND_INTERNAL
    server_side: bool = False  # an MCP SERVER span: from the tool server's process, never the actor
    fold_key: uuid.UUID | None = None
    fold_rank: int = 0
    folded: list[str] = field(default_factory=list)  # the other span ids of a folded tool call
    # filled by resolution
    identity_id: int | None = None
    task_id: int | None = None
    quarantine: str = ""
    token_jti: str = ""
    out_of_scope: int | None = None  # the identity matched that the credential may not write for


def span_uuid(trace_id: str, span_id: str) -> uuid.UUID:
    return uuid.uuid5(SPAN_NAMESPACE, f"{trace_id}:{span_id}")


def call_uuid(trace_id: str, request_id: str, tool: str) -> uuid.UUID:
    return uuid.uuid5(CALL_NAMESPACE, f"{trace_id}:{request_id}:{tool}")


def _cap(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value[:MAX_STRING]
    if isinstance(value, list):
        return [_cap(item, depth + 1) for item in value[:MAX_ITEMS]] if depth < 4 else []
    if isinstance(value, dict):
        if depth >= 4:
            return {}
        return {str(k)[:200]: _cap(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, float) and value != value:  # NaN: jsonb has none
        return None
    return value


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str))


def keep(attributes: dict[str, Any], *, store_content: bool, any_name: bool = False) -> tuple[dict, dict]:
    """(kept attributes, content) from everything a producer sent, through the allow-list (OTLP; our own
    shape's attributes are all named by the sender for us: `any_name`) and the caps."""
    kept: dict[str, Any] = {}
    content: dict[str, Any] = {}
    content_size = 0
    for name, value in attributes.items():
        if name in CONTENT_NAMES:
            if store_content:
                size = _size(value)
                if content_size + size <= MAX_CONTENT_JSON:
                    content[name] = value
                    content_size += size
            continue
        if len(kept) >= MAX_ATTRIBUTES:
            continue
        if any_name or name in KEPT_NAMES or name.startswith(KEPT_PREFIXES):
            capped = _cap(value)
            # a capped scalar always fits; only structures are measured
            if not isinstance(capped, dict | list) or _size(capped) <= MAX_VALUE_JSON:
                kept[name[:200]] = capped
    return kept, content


def resource_of(attributes: dict[str, Any]) -> dict[str, str]:
    """The resource a step touched: `agentiam.resource.<attr>` attributes, and an MCP resource's URI."""
    found = {
        name.removeprefix("agentiam.resource."): str(value)[:MAX_STRING]
        for name, value in attributes.items()
        if name.startswith("agentiam.resource.") and not isinstance(value, dict | list)
    }
    if "mcp.resource.uri" in attributes:
        found.setdefault("uri", str(attributes["mcp.resource.uri"])[:MAX_STRING])
    return dict(list(found.items())[:MAX_ITEMS])
