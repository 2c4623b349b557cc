"""The demo's action chains, found by `agentiam.seeding` (`manage.py seed_demo`): what the demo agents did in the
last hour, sent as a collector would send it — OTLP/HTTP JSON posted to the real ingest view (`POST /v1/traces`,
authenticated by a demo ingest key scoped to the demo agents), so identity resolution, the one-step-per-tool-call
fold, quarantine and COPY are the ones production runs. The gateway's decisions of the same traces are in the
decision log with their trace and span ids (as `identities.runtime.seeds.decision_history` writes history: a call
cannot be decided again in the past), so they join their steps on the chain page.

The chains:
- triage-bot reads a support ticket through Jira (allowed), reads the support channel, then — told to by the
  ticket's text — tries to write a GitHub Actions secret: a permitted read widening into a sensitive write
  (the gateway denies it; the detectors raise the privilege-widening alert: `audit.alerts.seeds` runs them);
- code-review-agent reads two repositories through its MCP server, each call decided by the gateway (each
  tool call reported by the framework, the MCP client and the tool server: one step each);
- refund-assistant hands a refund check to refund-policy-checker (a hand-off between agents);
- warehouse-analyst runs the weekly metrics queries, one of which fails (a tool error);
- a span from a service nobody registered waits in quarantine.

Idempotent: sent once, when none of the demo traces has an event yet (trace and span ids are fixed)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from django.test import RequestFactory
from django.utils import timezone

from audit import actors
from audit.events.models import ActionEvent, IngestKey
from audit.events.services import ingest_key_create
from audit.events.views.ingest import traces_ingest
from identities.models import Identity
from identities.runtime.decision_ids import uuid7
from identities.runtime.models import PolicyDecision, PolicyVersion
from identities.runtime.partitions import DECISION_LOG

__all__ = ["CHAINS", "KEY_NAME", "ORDER", "WIDENING", "demo", "span_of", "trace_of"]

ORDER = 95  # after the registry (10), the runtime (90) and the reviews' decision history (30)

KEY_NAME = "Demo collector (seed_demo)"
TRUST_DOMAIN = "acme.example"
WIDENING = "triage-widening"
CLIENT, SERVER, INTERNAL = 3, 2, 1  # OTLP span kinds
PROTOCOL = "2026-07-28"


def trace_of(name: str) -> str:
    return hashlib.sha256(f"agentiam-demo-chain:{name}".encode()).hexdigest()[:32]


def span_of(trace: str, label: str) -> str:
    return hashlib.sha256(f"{trace}:{label}".encode()).hexdigest()[:16]


def spiffe(name: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/agent/{name}"


# Each chain: (name, minutes ago it started, the agent (its process's service.name), spans, decisions). A span:
# (label, parent label, seconds from the start, duration in seconds, kind, name, attributes, error or "");
# "@server" at the end of a label puts the span in the tool server's process. Decisions: (label of the span
# that asked, tool, action, resource, verdict, reasons).
def _tool_call(label, parent, at, duration, tool, action, request_id, resource=None, error=""):
    """One MCP tool call as three producers report it: the framework's execute_tool span, the MCP client's
    CLIENT span and the tool server's SERVER span (folded into one step by ingest)."""
    extra = {f"agentiam.resource.{k}": v for k, v in (resource or {}).items()}
    mcp = {"mcp.method.name": "tools/call", "mcp.protocol.version": PROTOCOL, "jsonrpc.request.id": request_id,
           "gen_ai.tool.name": tool, "gen_ai.operation.name": "execute_tool"}  # fmt: skip
    return [
        (label, parent, at, duration, INTERNAL, f"execute_tool {tool}",
         {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "agentiam.action": action, **extra},
         error),
        (f"{label}.client", label, at + 0.01, duration - 0.02, CLIENT, f"tools/call {tool}", mcp, error),
        (f"{label}.server@server", f"{label}.client", at + 0.02, duration - 0.05, SERVER, f"tools/call {tool}",
         {**mcp, **({"error.type": "tool_error"} if error else {})}, error),
    ]  # fmt: skip


def _agent(label, parent, at, duration, name, agent_name=None):
    return (label, parent, at, duration, INTERNAL, f"invoke_agent {agent_name or name}",
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": spiffe(name),
             "gen_ai.agent.name": agent_name or name, "gen_ai.system": "anthropic"}, "")  # fmt: skip


def _chat(label, parent, at, duration, model):
    return (label, parent, at, duration, CLIENT, f"chat {model}",
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}, "")  # fmt: skip


CHAINS = [
    (
        WIDENING, 42, "triage-bot",
        [
            _agent("root", "", 0, 9.5, "triage-bot"),
            _chat("plan", "root", 0.1, 0.9, "claude-sonnet-4"),
            *_tool_call("ticket", "root", 1.1, 0.6, "jira.search_issues", "read", "1", {"project": "SUP"}),
            *_tool_call("channel", "root", 2.0, 0.8, "slack.read_channel", "read", "2", {"channel": "support-eu"}),
            _chat("follow", "root", 3.0, 1.4, "claude-sonnet-4"),
            *_tool_call("secret", "root", 4.6, 0.4, "github.manage_secrets", "write", "3",
                        {"repo": "acme/payments-api", "secret": "DEPLOY_KEY"}, error="permission_denied"),
        ],
        [
            ("ticket", "jira.search_issues", "read", {"project": "SUP"}, "allow", ["allow-standing-entitlement"]),
            ("secret", "github.manage_secrets", "write", {"repo": "acme/payments-api"}, "deny",
             ["deny-no-entitlement"]),
        ],
    ),
    (
        "code-review", 35, "code-review-agent",
        [
            _agent("root", "", 0, 14.0, "code-review-agent"),
            _chat("plan", "root", 0.2, 1.1, "gpt-5"),
            *_tool_call("read1", "root", 1.5, 0.7, "github.read_repository", "read", "1", {"repo": "acme/api"}),
            *_tool_call("read2", "root", 2.4, 0.6, "github.read_repository", "read", "2", {"repo": "acme/api"}),
            _chat("review", "root", 3.2, 6.5, "gpt-5"),
            *_tool_call("read3", "root", 10.0, 0.8, "github.read_repository", "read", "3", {"repo": "acme/web"}),
        ],
        [
            ("read1", "github.read_repository", "read", {"repo": "acme/api"}, "allow", ["allow-standing-entitlement"]),
            ("read2", "github.read_repository", "read", {"repo": "acme/api"}, "allow", ["allow-standing-entitlement"]),
            ("read3", "github.read_repository", "read", {"repo": "acme/web"}, "allow", ["allow-standing-entitlement"]),
        ],
    ),
    (
        "refund-handoff", 20, "refund-assistant",
        [
            _agent("root", "", 0, 8.0, "refund-assistant"),
            *_tool_call("order", "root", 0.5, 0.5, "orders.query", "read", "1", {"region": "eu-west"}),
            _agent("check", "root", 1.2, 5.0, "refund-policy-checker"),
            _chat("policy", "check", 1.3, 2.0, "gpt-4.1-mini"),
            *_tool_call("history", "check", 3.5, 0.6, "orders.query", "read", "1", {"region": "eu-west"}),
            _chat("answer", "root", 6.5, 1.2, "gpt-4.1"),
        ],
        [],
    ),
    (
        "weekly-metrics", 12, "warehouse-analyst",
        [
            _agent("root", "", 0, 20.0, "warehouse-analyst"),
            *_tool_call("q1", "root", 1.0, 3.0, "warehouse.query", "read", "1", {"schema": "growth"}),
            *_tool_call("q2", "root", 4.5, 4.0, "warehouse.query", "read", "2", {"schema": "payments"}),
            *_tool_call("q3", "root", 9.0, 0.5, "warehouse.query", "read", "3", {"schema": "payments"},
                        error="tool_error"),
            _chat("summary", "root", 10.0, 5.0, "gpt-5-mini"),
        ],
        [],
    ),
    (
        "unregistered", 5, "pricing-experiment-bot",  # nobody registered this service: its spans wait in quarantine
        [
            ("root", "", 0, 3.0, INTERNAL, "invoke_agent pricing-experiment",
             {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "pricing-experiment"}, ""),
        ],
        [],
    ),
]  # fmt: skip

AGENTS = sorted({"triage-bot", "code-review-agent", "refund-assistant", "refund-policy-checker", "warehouse-analyst"})


def _nanos(at: datetime) -> str:
    return str(int(at.timestamp() * 1_000_000) * 1000)


def _value(value) -> dict:
    return {"intValue": str(value)} if isinstance(value, int) else {"stringValue": str(value)}


def _attributes(values: dict) -> list[dict]:
    return [{"key": key, "value": _value(value)} for key, value in values.items()]


def _span(trace: str, start: datetime, spec) -> dict:
    label, parent, at, duration, kind, name, attributes, error = spec
    begin = start + timedelta(seconds=at)
    span = {
        "traceId": trace,
        "spanId": span_of(trace, label),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": _nanos(begin),
        "endTimeUnixNano": _nanos(begin + timedelta(seconds=duration)),
        "attributes": _attributes(attributes),
        "status": {"code": 2, "message": error} if error else {"code": 1},
    }
    if parent:
        span["parentSpanId"] = span_of(trace, parent)
    return span


def _body(trace: str, start: datetime, service: str, specs) -> bytes:
    by_process: dict[str, list] = {}
    for spec in specs:
        process = "tool-server" if spec[0].endswith("@server") else service
        by_process.setdefault(process, []).append(_span(trace, start, spec))
    resource_spans = [
        {
            "resource": {"attributes": _attributes({"service.name": process})},
            "scopeSpans": [{"scope": {"name": "agentiam.demo"}, "spans": spans}],
        }
        for process, spans in by_process.items()
    ]
    return json.dumps({"resourceSpans": resource_spans}).encode()


def _post(secret: str, body: bytes) -> dict:
    request = RequestFactory().post(
        "/v1/traces", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    response = traces_ingest(request)
    if response.status_code != 200:
        raise RuntimeError(f"demo chains refused by ingest: {response.status_code} {response.content[:200]!r}")
    return json.loads(response.content or b"{}")


def _decisions(trace: str, start: datetime, specs, decisions, identity: Identity, policy) -> list[PolicyDecision]:
    at = {spec[0]: start + timedelta(seconds=spec[2]) for spec in specs}
    rows = []
    for label, tool, action, resource, verdict, reasons in decisions:
        decided = at[label] + timedelta(milliseconds=5)
        rows.append(PolicyDecision(
            uuid=uuid7(decided), decided_at=decided, gateway=None, identity=identity, tool_key=tool, action=action,
            resource=resource, evaluated={}, policy_version=policy, decision=verdict, reasons=reasons,
            latency_us=420, trace_id=trace, span_id=span_of(trace, label),
        ))  # fmt: skip
    return rows


def demo(out=None, *, now: datetime | None = None) -> list[str]:
    traces = [trace_of(name) for name, *_ in CHAINS]
    if ActionEvent.objects.filter(trace_id__in=traces).exists():
        return []
    agents = {i.name: i for i in Identity.objects.filter(name__in=AGENTS, status="active")}
    if set(agents) != set(AGENTS):
        return []
    if IngestKey.objects.filter(name=KEY_NAME).exists():
        return [f"Demo chains: not sent (an ingest key named {KEY_NAME!r} exists, and its secret is not kept)."]
    _, secret = ingest_key_create(
        actor=actors.job("manage.py seed_demo"), name=KEY_NAME, identities=[str(agents[name].uuid) for name in AGENTS]
    )
    now = now or timezone.now()
    DECISION_LOG.create(now.date() - timedelta(days=1), 3)
    policy = PolicyVersion.objects.filter(status="active").first()
    decisions, accepted = [], 0
    for name, minutes, service, specs, decided in CHAINS:
        trace, start = trace_of(name), now - timedelta(minutes=minutes)
        answer = _post(secret, _body(trace, start, service, specs))
        accepted += len(specs) - int(answer.get("partialSuccess", {}).get("rejectedSpans", 0) or 0)
        if decided:
            decisions += _decisions(trace, start, specs, decided, agents[service], policy)
    PolicyDecision.objects.bulk_create(decisions)
    steps = ActionEvent.objects.filter(trace_id__in=traces).count()
    return [
        f"Action chains: {len(CHAINS)} demo traces, {accepted} spans through POST /v1/traces as {steps} steps, "
        f"{len(decisions)} gateway decisions joined (chain list /events/chains/)."
    ]
