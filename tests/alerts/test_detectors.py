"""The detectors, one by one, as pure functions: each with a case that fires and cases that must not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit.alerts import detectors as d

T0 = datetime(2026, 12, 1, 14, 3, tzinfo=UTC)
TH = d.Thresholds(
    warmup=timedelta(days=7), denials=3, volume_factor=5, volume_floor=10, depth=2, fan_out=3, workflows=3
)
OLD = d.Baseline(
    since=T0 - timedelta(days=20),
    tools=frozenset({"github.read_repo"}),
    hours=frozenset({13, 14}),
    windows=10,
    events=20,
)
YOUNG = d.Baseline(since=T0 - timedelta(days=2), tools=frozenset({"github.read_repo"}))
TOOLS = {
    "github.read_repo": d.ToolFacts("github.read_repo", "low"),
    "github.merge": d.ToolFacts("github.merge", "medium"),
    "vault.read_secret": d.ToolFacts("vault.read_secret", "critical", production=True),
}
_ids = iter(range(1, 10_000))


def step(tool="github.read_repo", action="read", at=T0, trace="a" * 32, span=None, parent="", decision="", **kw):
    n = next(_ids)
    return d.Step(
        id=n,
        started_at=at,
        identity_id=kw.pop("identity", 1),
        trace_id=trace,
        span_id=span or f"{n:016x}",
        parent_span_id=parent,
        tool_key=tool,
        action=action,
        decision=decision,
        **kw,
    )


def test_a_new_tool_fires_only_on_an_established_baseline_and_not_for_known_tools():
    found = d.new_tool(step("vault.read_secret"), OLD, TOOLS, TH)
    assert found.rule == "new_tool" and found.severity == "high" and found.scope == f"trace:{'a' * 32}"
    assert d.new_tool(step("github.merge"), OLD, TOOLS, TH).severity == "medium"
    assert d.new_tool(step("github.read_repo"), OLD, TOOLS, TH) is None  # known
    assert d.new_tool(step("vault.read_secret"), YOUNG, TOOLS, TH) is None  # baseline still warming up
    assert d.new_tool(step("vault.read_secret"), d.Baseline(), TOOLS, TH) is None  # no history at all
    assert d.new_tool(step(tool="", action=""), OLD, TOOLS, TH) is None  # not a tool call


def test_outside_entitlement_names_the_action_and_admin_covers_every_action():
    facts = d.IdentityFacts(1, entitled=frozenset({("github.read_repo", "read"), ("github.merge", "admin")}))
    assert d.outside_entitlement(step(), facts) is None
    assert d.outside_entitlement(step("github.merge", "write"), facts) is None  # admin covers write
    write = d.outside_entitlement(step("github.read_repo", "write", decision="deny"), facts)
    assert write.rule == "outside_entitlement" and write.severity == "medium" and "denied" in write.reasons[1]
    allowed = d.outside_entitlement(step("vault.read_secret", "read", decision="allow"), facts)
    assert allowed.severity == "high"  # the gateway let through what no entitlement grants
    assert d.outside_entitlement(step(action=""), facts) is None


def test_outside_acceptable_use_matches_globs_and_is_silent_without_a_record():
    facts = d.IdentityFacts(1, acceptable_tools=("github.*",))
    assert d.outside_acceptable_use(step("github.merge"), facts) is None
    assert d.outside_acceptable_use(step("vault.read_secret"), facts).rule == "outside_acceptable_use"
    assert d.outside_acceptable_use(step("vault.read_secret"), d.IdentityFacts(1)) is None
    assert d.outside_acceptable_use(step("githubx"), facts) is not None  # "github.*" is not a prefix match


def test_a_denial_burst_counts_what_earlier_batches_saw_in_the_same_window():
    two = [step(decision="deny"), step(decision="deny", at=T0 + timedelta(minutes=1)), step(decision="allow")]
    assert d.denial_burst(two, 0, TH) is None  # 2 < 3
    found = d.denial_burst(two, 1, TH)  # one denial counted by an earlier batch
    assert found.rule == "denial_burst" and found.scope == "window:2026-12-01T14:00:00+00:00"
    assert "3 denials" in found.title and len(found.event_ids) == 2
    assert d.denial_burst([step(decision="allow")] * 3, 10, TH) is None  # nothing denied now: raised before


def test_volume_far_above_the_baseline_needs_both_the_factor_and_the_floor():
    many = [step(at=T0 + timedelta(seconds=i)) for i in range(10)]
    assert d.volume_spike(many, 0, OLD, TH).rule == "volume_spike"  # 10 >= floor 10 and >= 5 x mean 2
    assert d.volume_spike(many[:9], 0, OLD, TH) is None  # under the floor
    busy = d.Baseline(since=OLD.since, windows=10, events=1000)  # mean 100: 10 is ordinary for it
    assert d.volume_spike(many, 0, busy, TH) is None
    assert d.volume_spike(many, 0, YOUNG, TH) is None
    assert d.volume_spike(many[:5], 5, OLD, TH) is not None  # counted across batches


def test_chain_depth_and_fan_out_over_the_thresholds():
    root = step(tool="", action="", span="0" * 15 + "1")
    a = step(parent=root.span_id)
    b = step(parent=a.span_id)
    assert d.chain_shape([root, a, b], TH) == []  # depth 2 is the threshold, not over it
    c = step(parent=b.span_id)
    assert [f.rule for f in d.chain_shape([root, a, b, c], TH)] == ["chain_depth"]
    wide = [root, *(step(parent=root.span_id) for _ in range(4))]
    assert [f.rule for f in d.chain_shape(wide, TH)] == ["chain_fan_out"]
    assert d.chain_shape([], TH) == []


def test_privilege_widening_from_a_read_to_a_sensitive_write_within_one_trace():
    read = step("github.read_repo", "read", at=T0)
    secret = step("vault.read_secret", "write", at=T0 + timedelta(seconds=5))
    found = d.widening([secret, read], TOOLS)  # order of arrival does not matter: time does
    assert found.rule == "privilege_widening" and found.severity == "critical"
    assert found.event_ids == (read.id, secret.id) and "vault.read_secret" in found.title
    stronger = d.widening([read, step("github.read_repo", "write", at=T0 + timedelta(seconds=1))], TOOLS)
    assert stronger.severity == "high"  # a stronger action on a low tool
    # Starting high and going lower is not widening; nor is one step alone.
    assert (
        d.widening([step("vault.read_secret", "write"), step("github.read_repo", at=T0 + timedelta(1))], TOOLS) is None
    )
    assert d.widening([read], TOOLS) is None


def test_one_identity_used_by_many_workflows_counts_registered_and_seen_ones():
    facts = d.IdentityFacts(1, workflows=frozenset({1, 2}))
    assert d.identity_fan_out([step(workflow_id=2)], facts, TH) is None
    found = d.identity_fan_out([step(workflow_id=2), step(workflow_id=9)], facts, TH)
    assert found.rule == "identity_fan_out" and found.scope == "day:2026-12-01"


def test_production_access_at_an_hour_the_baseline_never_saw():
    prod = d.IdentityFacts(1, environment="prod")
    night = T0.replace(hour=3)
    assert d.unusual_hours(step(at=night), prod, OLD, TOOLS, TH).scope == "hour:2026-12-01T03:00:00+00:00"
    assert d.unusual_hours(step(at=T0), prod, OLD, TOOLS, TH) is None  # 14:00 is usual
    assert d.unusual_hours(step(at=night), d.IdentityFacts(1, environment="dev"), OLD, TOOLS, TH) is None
    # A dev identity touching a production tool counts as production access.
    assert d.unusual_hours(step("vault.read_secret", at=night), d.IdentityFacts(1), OLD, TOOLS, TH) is not None
    assert d.unusual_hours(step(at=night), prod, YOUNG, TOOLS, TH) is None


def test_a_token_or_identity_used_after_revocation():
    revoked = {"jti-1": T0 - timedelta(minutes=1)}
    assert d.after_revocation(step(token_jti="jti-1"), d.IdentityFacts(1), revoked).severity == "critical"
    assert (
        d.after_revocation(step(token_jti="jti-1", at=T0 - timedelta(minutes=2)), d.IdentityFacts(1), revoked) is None
    )
    assert d.after_revocation(step(token_jti="jti-2"), d.IdentityFacts(1), revoked) is None
    gone = d.IdentityFacts(1, status="suspended", status_changed_at=T0 - timedelta(hours=1))
    assert "suspended" in d.after_revocation(step(), gone, {}).title
    assert d.after_revocation(step(at=T0 - timedelta(hours=2)), gone, {}) is None  # before the suspension


def test_evaluate_raises_each_rule_once_per_identity_and_scope():
    trace = "b" * 32
    steps = [
        step("vault.read_secret", "read", trace=trace),
        step("vault.read_secret", "read", trace=trace),
        step("vault.read_secret", "read", trace="c" * 32),
    ]
    inputs = d.Inputs(
        steps=steps, traces={}, facts={}, baselines={1: OLD}, tools=TOOLS, revoked={}, windows={}, thresholds=TH
    )
    found = d.evaluate(inputs)
    assert [f.scope for f in found if f.rule == "new_tool"] == [f"trace:{trace}"]  # new once, where first seen
    assert sorted(f.scope for f in found if f.rule == "outside_entitlement") == [f"trace:{trace}", f"trace:{'c' * 32}"]


def test_the_shape_matches_the_chain_page_and_survives_a_parent_cycle():
    from audit.events.chains import tree

    root = step(tool="", span="f" * 16)
    kids = [step(parent=root.span_id) for _ in range(3)]
    grandchild = step(parent=kids[0].span_id)
    steps = [root, *kids, grandchild]
    assert d.shape(steps) == tree(steps)[1:] == (2, 3)
    a = step(span="1" * 16, parent="2" * 16)
    b = step(span="2" * 16, parent="1" * 16)
    assert d.shape([a, b]) == (0, 1)  # no root: both hang off each other; nothing loops forever
