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

from django.db.models import Count, Q

from agentiam.permissions import roles_of
from audit.events.chains import MAX_STEPS, Node, parents, tree
from audit.events.forms import AFTER, BEFORE, WIDENING, widening_alerts
from audit.events.models import ActionEvent
from audit.events.selectors import decisions_visible_to, events_visible_to
from identities.models import Identity
from identities.rules import sees_every_identity
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
    alerts: list = field(default_factory=list)  # the alerts raised over this trace (any rule), newest first
    next_after: tuple | None = None  # (started_at, id) of the page's last event when more steps follow
    after: tuple | None = None  # where this page started (None: the first page)

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
    "latency_us", "trace_id", "span_id", "act_chain",
)  # fmt: skip


def load_chain(user, trace_id: str, after: tuple | None = None) -> Chain | None:
    """The chain of `trace_id` as `user` may see it, MAX_STEPS steps a page (`after`: the (started_at, id) of the
    previous page's last event; a step whose parent is on an earlier page is a root of its page); None when
    nothing of it is visible."""
    visible = events_visible_to(user).filter(trace_id=trace_id)
    decided = decisions_visible_to(user).filter(trace_id=trace_id)
    if after is not None:
        at, pk = after
        visible = visible.filter(Q(started_at__gt=at) | Q(started_at=at, id__gt=pk))
        decided = decided.filter(decided_at__gt=at)
    events = list(visible.order_by("started_at", "id")[: MAX_STEPS + 1])
    more = len(events) > MAX_STEPS
    events = events[:MAX_STEPS]
    if more:  # this page's decisions: those before the next page's first event
        decided = decided.filter(decided_at__lte=events[-1].started_at)
    traced = list(decided.only(*_DECISION_FIELDS).order_by("decided_at", "id")[:MAX_STEPS])
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
    capped = more or len(traced) == MAX_STEPS
    raised = _alerts(trace_id, user)
    flagged: dict[int, list] = {}
    for alert in raised:
        for event_id in alert.event_ids:
            flagged.setdefault(event_id, []).append(alert)
    known = Identity.objects.filter(pk__in={s.identity_id for s in steps if s.identity_id})
    rows = {pk: (public, name) for pk, public, name in known.values_list("pk", "uuid", "name")}
    for step in steps:
        step.alerts = flagged.get(step.id, []) if step.kind == "event" else []
        # a widening alert names the step it started from and the step that widened (its last, by start)
        widening = [alert for alert in step.alerts if alert.rule == WIDENING]
        step.widens = any(alert.event_ids[-1] == step.id for alert in widening)
        step.widening_starts = not step.widens and bool(widening)
        step.identity_uuid, step.identity_name = rows.get(step.identity_id, (None, ""))
        if step.kind == "decision":
            step.duration_ms = step.decision.latency_us / 1000
        else:
            step.duration_ms = (step.ended_at - step.started_at).total_seconds() * 1000 if step.ended_at else None
    nodes, depth, fan_out = tree(steps)
    above = parents(steps)
    for node in nodes:
        if node.kind == "step":
            step = node.step
            step.depth, step.parent_step = node.depth, above[id(step)]
            parent = step.parent_step
            # a hand-off: the step acts for another identity than the step that started it (delegation, act chains)
            step.handoff_from = (
                parent.identity_name
                if parent is not None
                and parent.identity_id
                and step.identity_id
                and parent.identity_id != step.identity_id
                else ""
            )
    next_after = (events[-1].started_at, events[-1].id) if more else None
    return Chain(trace_id, steps, nodes, depth, fan_out, capped, raised, next_after, after)


def _alerts(trace_id: str, user) -> list:
    """The alerts raised over the trace, for the reader: alerts follow the identity's visibility, as events do."""
    alert_model = widening_alerts().model  # audit.alerts' model, by name (the apps import no sibling)
    visible = alert_model.objects.filter(trace_id=trace_id)
    if not sees_every_identity(roles_of(user)):
        visible = visible.filter(identity__in=Identity.objects.restrict(user).values("pk"))
    return list(visible.only("uuid", "rule", "severity", "title", "event_ids", "raised_at").order_by("-raised_at"))


@dataclass
class ChainSummary:
    steps: int = 0
    errors: int = 0
    agents: int = 0
    denied: int = 0
    widened: Any = None  # the privilege-widening alert's (uuid, severity), when the detectors raised one


def summarise(user, heads: list) -> None:
    """Each listed chain's root step gets `.summary` (steps, errors, agents, denied decisions, widened) — three
    queries for the page whatever its rows, each bounded to the page's days so partitions are pruned."""
    if not heads:
        return
    traces = sorted({head.trace_id for head in heads})
    low = min(head.started_at for head in heads) - BEFORE
    high = max(head.started_at for head in heads) + AFTER
    found = {trace: ChainSummary() for trace in traces}
    counted = (
        events_visible_to(user)
        .filter(trace_id__in=traces, started_at__gte=low, started_at__lte=high)
        .values("trace_id")
        .annotate(
            steps=Count("id"), errors=Count("id", filter=Q(outcome="error")), agents=Count("identity_id", distinct=True)
        )
    )
    for row in counted:
        summary = found[row["trace_id"]]
        summary.steps, summary.errors, summary.agents = row["steps"], row["errors"], row["agents"]
    denied = (
        decisions_visible_to(user)
        .filter(trace_id__in=traces, decision="deny", decided_at__gte=low, decided_at__lte=high)
        .values("trace_id")
        .annotate(n=Count("id"))
    )
    for row in denied:
        found[row["trace_id"]].denied = row["n"]
    alerts = widening_alerts().filter(trace_id__in=traces)
    for trace, public, severity in alerts.values_list("trace_id", "uuid", "severity"):
        found[trace].widened = (public, severity)
    for head in heads:
        head.summary = found[head.trace_id]
