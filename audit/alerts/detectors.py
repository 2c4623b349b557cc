"""The detectors: pure functions of typed inputs (like identities/risk.py) — steps, an identity's baseline and
facts, thresholds in; findings with their reasons out. No ORM: audit.alerts.evaluate reads the inputs and
persists what they find.

Rules, in words (thresholds in `Thresholds`, from settings ALERTS_*):

- new_tool: a tool the identity has not used in the baseline's 30 days, once the baseline is established
  (its first activity at least `warmup` before the step) — medium, high on a production or high-sensitivity tool;
- outside_entitlement: a tool call whose (tool, action) no active entitlement covers (admin covers all) —
  medium; high when the gateway allowed it;
- outside_acceptable_use: a tool that the acceptable use in force does not list (globs) — medium;
- denial_burst: `denials` or more denied steps in one ten-minute window — high;
- volume_spike: a window with at least `volume_floor` events and `volume_factor` times the baseline's mean
  per active window — medium;
- chain_depth / chain_fan_out: a trace deeper or wider than the thresholds — medium;
- privilege_widening: a trace that reaches a more sensitive tool or a stronger action than its first tool
  step — high; critical when it ends in write/admin on a high or critical tool;
- identity_fan_out: one identity used by `workflows` or more workflows — medium;
- unusual_hours: a production step in an hour of the day (UTC) in which the established baseline has never
  been active — medium;
- after_revocation: a step sent with a token revoked before it started, or by an identity suspended or
  retired before it started — critical.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WINDOW = timedelta(minutes=10)
BASELINE_DAYS = 30
ACTION_RANK = {"read": 0, "execute": 1, "write": 2, "admin": 3}
SENSITIVITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def window_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 10, second=0, microsecond=0)


@dataclass(frozen=True)
class Thresholds:
    warmup: timedelta = timedelta(days=7)
    denials: int = 5
    volume_factor: float = 10.0
    volume_floor: int = 100
    depth: int = 8
    fan_out: int = 50
    workflows: int = 5


@dataclass(slots=True, eq=False)  # the hot path's record: slots, no frozen __setattr__; compared by identity
class Step:
    id: int
    started_at: datetime
    identity_id: int
    trace_id: str
    span_id: str
    parent_span_id: str = ""
    folded_span_ids: tuple[str, ...] = ()
    tool_key: str = ""
    action: str = ""
    decision: str = ""  # "allow" / "deny" when the gateway decided it, else ""
    token_jti: str = ""
    workflow_id: int | None = None  # through the step's task

    @property
    def denied(self) -> bool:
        return self.decision == "deny"


@dataclass(frozen=True)
class ToolFacts:
    key: str
    sensitivity: str = "low"
    production: bool = False


@dataclass(frozen=True)
class IdentityFacts:
    id: int
    environment: str = "dev"
    status: str = "active"
    status_changed_at: datetime | None = None
    entitled: frozenset[tuple[str, str]] = frozenset()  # (tool key, action) of active entitlements
    acceptable_tools: tuple[str, ...] | None = None  # globs of the acceptable use in force; None: none recorded
    workflows: frozenset[int] = frozenset()  # registered for the identity


@dataclass(frozen=True)
class Baseline:
    """The identity's last 30 days before this evaluation: what it used, when, how much."""

    since: datetime | None = None  # its first activity on record
    tools: frozenset[str] = frozenset()
    hours: frozenset[int] = frozenset()  # UTC hours of the day with activity
    windows: int = 0  # active ten-minute windows
    events: int = 0  # events in them

    def established(self, at: datetime, thresholds: Thresholds) -> bool:
        return self.since is not None and self.since <= at - thresholds.warmup

    @property
    def mean_per_window(self) -> float:
        return self.events / self.windows if self.windows else 0.0


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    identity_id: int
    scope: str
    title: str
    reasons: tuple[str, ...]
    event_ids: tuple[int, ...]
    first_at: datetime
    last_at: datetime
    trace_id: str = ""


def _finding(rule, severity, step: Step, scope: str, title: str, reasons, steps: Iterable[Step] = ()) -> Finding:
    involved = sorted({step, *steps}, key=lambda s: (s.started_at, s.id))
    return Finding(
        rule,
        severity,
        step.identity_id,
        scope,
        title,
        tuple(reasons),
        tuple(s.id for s in involved),
        involved[0].started_at,
        involved[-1].started_at,
        step.trace_id,
    )


def _tool_facts(tools: dict[str, ToolFacts], key: str) -> ToolFacts:
    return tools.get(key) or ToolFacts(key)


# --- per step ------------------------------------------------------------------------------------------------


def new_tool(step: Step, baseline: Baseline, tools: dict[str, ToolFacts], thresholds: Thresholds) -> Finding | None:
    if not step.tool_key or step.tool_key in baseline.tools or not baseline.established(step.started_at, thresholds):
        return None
    tool = _tool_facts(tools, step.tool_key)
    severe = tool.production or SENSITIVITY_RANK.get(tool.sensitivity, 0) >= SENSITIVITY_RANK["high"]
    return _finding(
        "new_tool",
        "high" if severe else "medium",
        step,
        f"trace:{step.trace_id}",
        f"First use of {step.tool_key}",
        [
            f"{step.tool_key} is not among the {len(baseline.tools)} tools used in the last {BASELINE_DAYS} days",
            f"tool sensitivity {tool.sensitivity}{', production' if tool.production else ''}",
        ],
    )


def outside_entitlement(step: Step, facts: IdentityFacts) -> Finding | None:
    if not step.tool_key or not step.action:
        return None
    if (step.tool_key, step.action) in facts.entitled or (step.tool_key, "admin") in facts.entitled:
        return None
    allowed = step.decision == "allow"
    reasons = [f"no active entitlement grants {step.action} on {step.tool_key}"]
    if step.decision:
        reasons.append(f"the gateway {'allowed' if allowed else 'denied'} it")
    return _finding(
        "outside_entitlement",
        "high" if allowed else "medium",
        step,
        f"trace:{step.trace_id}",
        f"{step.action} on {step.tool_key} without an entitlement",
        reasons,
    )


def outside_acceptable_use(step: Step, facts: IdentityFacts) -> Finding | None:
    if not step.tool_key or facts.acceptable_tools is None:
        return None
    if any(fnmatch.fnmatchcase(step.tool_key, pattern) for pattern in facts.acceptable_tools):
        return None
    listed = ", ".join(facts.acceptable_tools) or "no tools"
    return _finding(
        "outside_acceptable_use",
        "medium",
        step,
        f"trace:{step.trace_id}",
        f"{step.tool_key} is outside acceptable use",
        [f"the acceptable use in force lists {listed}"],
    )


def unusual_hours(
    step: Step, facts: IdentityFacts, baseline: Baseline, tools: dict[str, ToolFacts], thresholds: Thresholds
) -> Finding | None:
    production = facts.environment == "prod" or (step.tool_key and _tool_facts(tools, step.tool_key).production)
    if not production or not baseline.established(step.started_at, thresholds):
        return None
    hour = step.started_at.astimezone(UTC).hour
    if hour in baseline.hours:
        return None
    start = step.started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    usual = ", ".join(f"{h:02d}" for h in sorted(baseline.hours)) or "none"
    return _finding(
        "unusual_hours",
        "medium",
        step,
        f"hour:{start.isoformat()}",
        f"Production access at {hour:02d}:00 UTC",
        [f"active in these UTC hours over the last {BASELINE_DAYS} days: {usual}"],
    )


def after_revocation(step: Step, facts: IdentityFacts, revoked: dict[str, datetime]) -> Finding | None:
    at = revoked.get(step.token_jti) if step.token_jti else None
    if at is not None and at <= step.started_at:
        return _finding(
            "after_revocation",
            "critical",
            step,
            f"trace:{step.trace_id}",
            "A revoked token was used",
            [f"token {step.token_jti} was revoked at {at.isoformat()}"],
        )
    if (
        facts.status in ("suspended", "retired")
        and facts.status_changed_at
        and facts.status_changed_at <= step.started_at
    ):
        return _finding(
            "after_revocation",
            "critical",
            step,
            f"trace:{step.trace_id}",
            f"Activity of a {facts.status} identity",
            [f"the identity was {facts.status} at {facts.status_changed_at.isoformat()}"],
        )
    return None


# --- per window -------------------------------------------------------------------------------------------------


def denial_burst(steps: list[Step], before: int, thresholds: Thresholds) -> Finding | None:
    """`steps`: this evaluation's steps of one identity in one window; `before`: denials already counted there."""
    denied = [step for step in steps if step.denied]
    if not denied or before + len(denied) < thresholds.denials:
        return None
    start = window_of(denied[0].started_at)
    return _finding(
        "denial_burst",
        "high",
        denied[0],
        f"window:{start.isoformat()}",
        f"{before + len(denied)} denials in ten minutes",
        [f"{before + len(denied)} denied steps from {start:%H:%M} UTC (threshold {thresholds.denials})"],
        denied[1:50],
    )


def volume_spike(steps: list[Step], before: int, baseline: Baseline, thresholds: Thresholds) -> Finding | None:
    if not steps or not baseline.established(steps[0].started_at, thresholds):
        return None
    total = before + len(steps)
    mean = baseline.mean_per_window
    if total < thresholds.volume_floor or total < thresholds.volume_factor * mean:
        return None
    start = window_of(steps[0].started_at)
    return _finding(
        "volume_spike",
        "medium",
        steps[0],
        f"window:{start.isoformat()}",
        f"{total} events in ten minutes",
        [f"{total} events from {start:%H:%M} UTC; the baseline averages {mean:.1f} per active window"],
        steps[1:20],
    )


def identity_fan_out(steps: list[Step], facts: IdentityFacts, thresholds: Thresholds) -> Finding | None:
    used = facts.workflows | {step.workflow_id for step in steps if step.workflow_id is not None}
    if len(used) < thresholds.workflows:
        return None
    day = steps[0].started_at.astimezone(UTC).date()
    return _finding(
        "identity_fan_out",
        "medium",
        steps[0],
        f"day:{day.isoformat()}",
        f"Used by {len(used)} workflows",
        [f"{len(used)} workflows use this identity (threshold {thresholds.workflows})"],
    )


# --- per trace --------------------------------------------------------------------------------------------------


def shape(steps: list[Step]) -> tuple[int, int]:
    """(deepest depth, widest fan-out) of one trace's steps, as the chain page draws them (a step whose parent
    is not among them is a root; folded span ids resolve parents); walked without recursion."""
    owner: dict[str, Step] = {}
    for step in steps:
        for span in (step.span_id, *step.folded_span_ids):
            owner.setdefault(span, step)
    children: dict[int, list[Step]] = {}
    roots = []
    for step in steps:
        parent = owner.get(step.parent_span_id) if step.parent_span_id else None
        if parent is None or parent is step:
            roots.append(step)
        else:
            children.setdefault(step.id, [])
            children.setdefault(parent.id, []).append(step)
    deepest, stack = 0, [(step, 0) for step in roots]
    seen: set[int] = set()
    while stack:
        step, depth = stack.pop()
        if step.id in seen:  # a cycle of parent ids (a malformed producer) ends here
            continue
        seen.add(step.id)
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children.get(step.id, ()))
    widest = max((len(v) for v in children.values()), default=0)
    return deepest, max(widest, len(roots))


def chain_shape(steps: list[Step], thresholds: Thresholds) -> list[Finding]:
    """Depth and fan-out of one trace's steps (all of one identity's, or the whole trace's)."""
    if not steps:
        return []
    depth, fan_out = shape(steps)
    first = min(steps, key=lambda s: (s.started_at, s.id))
    found = []
    if depth > thresholds.depth:
        found.append(
            _finding(
                "chain_depth",
                "medium",
                first,
                f"trace:{first.trace_id}",
                f"Chain {depth} steps deep",
                [f"depth {depth} (threshold {thresholds.depth})"],
            )
        )
    if fan_out > thresholds.fan_out:
        found.append(
            _finding(
                "chain_fan_out",
                "medium",
                first,
                f"trace:{first.trace_id}",
                f"Chain fans out to {fan_out}",
                [f"fan-out {fan_out} (threshold {thresholds.fan_out})"],
            )
        )
    return found


@dataclass(frozen=True)
class Level:
    sensitivity: int
    action: int

    def above(self, other: Level) -> bool:
        return self.sensitivity > other.sensitivity or self.action > other.action


def level(step: Step, tools: dict[str, ToolFacts]) -> Level:
    return Level(
        SENSITIVITY_RANK.get(_tool_facts(tools, step.tool_key).sensitivity, 0), ACTION_RANK.get(step.action, 0)
    )


def widening(steps: list[Step], tools: dict[str, ToolFacts]) -> Finding | None:
    """A trace that reaches a more sensitive tool or a stronger action than its first tool step (pure)."""
    calls = sorted((s for s in steps if s.tool_key), key=lambda s: (s.started_at, s.id))
    if len(calls) < 2:
        return None
    start = level(calls[0], tools)
    top, widest = start, None
    for step in calls[1:]:
        here = level(step, tools)
        if here.sensitivity > top.sensitivity or (here.sensitivity >= top.sensitivity and here.action > top.action):
            top, widest = here, step
    if widest is None or not top.above(start):
        return None
    first = calls[0]
    critical = top.sensitivity >= SENSITIVITY_RANK["high"] and top.action >= ACTION_RANK["write"]
    reasons = [
        f"starts with {first.action or 'a call'} on {first.tool_key} "
        f"({_tool_facts(tools, first.tool_key).sensitivity})",
        f"reaches {widest.action or 'a call'} on {widest.tool_key} ({_tool_facts(tools, widest.tool_key).sensitivity})",
    ]
    return _finding(
        "privilege_widening",
        "critical" if critical else "high",
        first,
        f"trace:{first.trace_id}",
        f"Widens from {first.tool_key} to {widest.tool_key}",
        reasons,
        [widest],
    )


@dataclass
class Inputs:
    """Everything one evaluation needs, read by audit.alerts.evaluate."""

    steps: list[Step]  # the new steps, in sequence order
    traces: dict[str, list[Step]]  # every known step of the traces the new steps belong to
    facts: dict[int, IdentityFacts]
    baselines: dict[int, Baseline]
    tools: dict[str, ToolFacts]
    revoked: dict[str, datetime]  # token jti -> revoked at
    windows: dict[tuple[int, datetime], tuple[int, int]]  # (identity, window) -> (events, denials) before
    thresholds: Thresholds = field(default_factory=Thresholds)


def evaluate(inputs: Inputs) -> list[Finding]:
    """Every finding of one batch; one per (rule, identity, scope) — the first seen."""
    found: dict[tuple[str, int, str], Finding] = {}

    def add(finding: Finding | None) -> None:
        if finding is not None:
            found.setdefault((finding.rule, finding.identity_id, finding.scope), finding)

    th, tools = inputs.thresholds, inputs.tools
    seen_tools: dict[int, set[str]] = {}
    by_window: dict[tuple[int, datetime], list[Step]] = {}
    by_identity: dict[int, list[Step]] = {}
    empty = Baseline()
    for step in inputs.steps:
        facts = inputs.facts.get(step.identity_id) or IdentityFacts(step.identity_id)
        baseline = inputs.baselines.get(step.identity_id, empty)
        by_window.setdefault((step.identity_id, window_of(step.started_at)), []).append(step)
        by_identity.setdefault(step.identity_id, []).append(step)
        if step.tool_key:
            mine = seen_tools.setdefault(step.identity_id, set())
            if step.tool_key not in mine:  # a new tool is new once, in the first trace that used it
                mine.add(step.tool_key)
                add(new_tool(step, baseline, tools, th))
            add(outside_entitlement(step, facts))
            add(outside_acceptable_use(step, facts))
        add(unusual_hours(step, facts, baseline, tools, th))
        add(after_revocation(step, facts, inputs.revoked))
    for (identity, start), steps in by_window.items():
        events, denials = inputs.windows.get((identity, start), (0, 0))
        add(denial_burst(steps, denials, th))
        add(volume_spike(steps, events, inputs.baselines.get(identity, empty), th))
    for identity, steps in by_identity.items():
        add(identity_fan_out(steps, inputs.facts.get(identity) or IdentityFacts(identity), th))
    for trace_steps in inputs.traces.values():
        mine: dict[int, list[Step]] = {}
        for step in trace_steps:
            mine.setdefault(step.identity_id, []).append(step)
        for steps in mine.values():
            for finding in chain_shape(steps, th):
                add(finding)
            add(widening(steps, tools))
    return list(found.values())
