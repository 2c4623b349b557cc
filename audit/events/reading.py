"""One trace as the reader may see it, for the chain page and `/api/v1/chains/{trace_id}/`: the exported steps
and the gateway decisions of the same trace, joined.

A decision joins a step when the step names it (`decision_id`), or else when the decision's span id (the
traceparent's parent-id the gateway passed on: the agent's span that made the call) is the step's span or one
folded into it, and the step calls the same tool and has no decision yet. A decision that joins no step is a
step of its own — a gateway step — under the span that asked, so a call the agent did not export (or exported
elsewhere) still stands in its chain. Reads a fixed number of queries whatever the steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.events.chains import MAX_STEPS, Node, parents, tree
from audit.events.models import ActionEvent
from audit.events.selectors import decisions_visible_to, events_visible_to
from identities.models import Identity
from identities.runtime.models import PolicyDecision

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
ERR_TRACE_ID = "A trace id is 32 lower-case hexadecimal characters, not all zeros."


def valid_trace_id(value: str) -> bool:
    return bool(TRACE_ID.match(value or "")) and value != "0" * 32


@dataclass
class GatewayStep:
    """A gateway decision of the trace that no exported step claims, drawn as a step under the span that asked."""

    decision: PolicyDecision
    span_id: str
    parent_span_id: str
    started_at: datetime
    identity_id: int | None
    tool_key: str
    action: str
    resource: dict
    kind: str = "decision"
    name: str = "gateway decision"
    operation: str = "decide"
    outcome: str = "unset"
    error_type: str = ""
    quarantine: str = ""
    ended_at: datetime | None = None
    decision_id: Any = None
    folded_span_ids: list = field(default_factory=list)
    claimed: dict = field(default_factory=dict)
    id: int | None = None
    uuid: Any = None

    def get_quarantine_display(self) -> str:
        return "no identity (the token was not valid)"


@dataclass
class Chain:
    trace_id: str
    steps: list  # ActionEvent and GatewayStep, by start
    nodes: list[Node]
    depth: int
    fan_out: int
    capped: bool

    @property
    def started_at(self) -> datetime:
        return self.steps[0].started_at

    @property
    def denied(self) -> int:
        return sum(1 for s in self.steps if s.decision is not None and s.decision.decision == "deny")

    @property
    def errors(self) -> int:
        return sum(1 for s in self.steps if s.outcome == "error")

    @property
    def quarantined(self) -> int:
        return sum(1 for s in self.steps if s.quarantine)

    @property
    def agents(self) -> list[str]:
        return sorted({s.identity_name for s in self.steps if s.identity_name})


_DECISION_FIELDS = (
    "id", "uuid", "decided_at", "identity_id", "tool_key", "action", "resource", "decision", "reasons",
    "latency_us", "trace_id", "span_id",
)  # fmt: skip


def load_chain(user, trace_id: str) -> Chain | None:
    """The chain of `trace_id` as `user` may see it; None when nothing of it is visible."""
    events = list(
        events_visible_to(user).filter(trace_id=trace_id).order_by("started_at", "id")[:MAX_STEPS]
    )  # fmt: skip
    traced = list(
        decisions_visible_to(user)
        .filter(trace_id=trace_id)
        .only(*_DECISION_FIELDS)
        .order_by("decided_at", "id")[:MAX_STEPS]
    )
    if not events and not traced:
        return None
    named = {s.decision_id for s in events if s.decision_id} - {d.uuid for d in traced}
    decisions = {d.uuid: d for d in traced}
    if named:
        decisions.update(
            (d.uuid, d) for d in PolicyDecision.objects.filter(uuid__in=named).only(*_DECISION_FIELDS)
        )  # fmt: skip
    by_span: dict[str, ActionEvent] = {}
    for step in events:
        step.kind = "event"
        step.decision = decisions.get(step.decision_id)
        for span in (step.span_id, *step.folded_span_ids):
            by_span.setdefault(span, step)
    claimed = {s.decision.uuid for s in events if s.decision is not None}
    gateway_steps = []
    for decision in traced:
        if decision.uuid in claimed:
            continue
        step = by_span.get(decision.span_id)
        if step is not None and step.decision is None and step.tool_key == decision.tool_key:
            step.decision = decision
            claimed.add(decision.uuid)
            continue
        gateway_steps.append(
            GatewayStep(
                decision=decision, span_id=f"decision-{decision.uuid}", parent_span_id=decision.span_id,
                started_at=decision.decided_at, identity_id=decision.identity_id, tool_key=decision.tool_key,
                action=decision.action, resource=decision.resource, uuid=decision.uuid,
            )
        )  # fmt: skip
    steps = sorted([*events, *gateway_steps], key=lambda s: (s.started_at, s.kind == "decision", s.id or 0))
    capped = len(events) == MAX_STEPS or len(traced) == MAX_STEPS
    steps = steps[:MAX_STEPS]
    known = Identity.objects.filter(pk__in={s.identity_id for s in steps if s.identity_id})
    rows = {pk: (public, name) for pk, public, name in known.values_list("pk", "uuid", "name")}
    for step in steps:
        step.identity_uuid, step.identity_name = rows.get(step.identity_id, (None, ""))
        if step.kind == "decision":
            step.duration_ms = step.decision.latency_us / 1000
        else:
            step.duration_ms = (step.ended_at - step.started_at).total_seconds() * 1000 if step.ended_at else None
    nodes, depth, fan_out = tree(steps)
    above = parents(steps)
    for node in nodes:
        if node.kind == "step":
            node.step.depth, node.step.parent_step = node.depth, above[id(node.step)]
    return Chain(trace_id, steps, nodes, depth, fan_out, capped)
