"""The Cedar policy engine: the baseline's rules both ways, the evaluator's versions and batches,
validation that blocks a bad draft, and replay that lists exactly the decisions a draft would flip."""

import json
from dataclasses import replace

import pytest

from identities.runtime.policy import (
    BASELINE_EXPLANATIONS,
    BASELINE_POLICY,
    DEFAULT_DENY,
    EVALUATION_ERROR,
    SCHEMA,
    AcceptableUseSnapshot,
    InvalidDecisionRequest,
    PolicyEvaluator,
    PolicyTestCase,
    RecordedDecision,
    TokenSnapshot,
    explanations,
    replay,
    validate,
)
from identities.runtime.policy.cases import (
    AUP_TOOLS,
    DAY,
    MINUTE,
    NOW,
    baseline_cases,
    example_request,
    exception,
    grant,
    identity,
    jit,
    standing,
)

WRITE_PR = {"tool": "github.create_pull_request", "action": "write"}
ADMIN_PR = {"tool": "github.create_pull_request", "action": "admin"}
SECRET = {"tool": "vault.read_secret", "action": "read", "resource": {}}
RULE_HIGH = "deny-standing-privileged-high-risk"


@pytest.fixture(scope="module")
def evaluator():
    engine = PolicyEvaluator()
    engine.ensure("baseline", BASELINE_POLICY)
    return engine


def decide(evaluator, **changes):
    return evaluator.decide(example_request(**changes))


def assert_allowed(decision, rule):
    assert (decision.allow, decision.reasons, decision.errors) == (True, [rule], [])


def assert_denied_by(decision, rule):
    assert decision.allow is False
    assert rule in decision.reasons
    assert decision.errors == []


# The baseline, rule by rule


def test_the_baseline_validates_with_its_shipped_test_cases():
    assert validate(BASELINE_POLICY, SCHEMA, baseline_cases()) == []


def test_every_baseline_rule_has_an_id_and_an_explanation_for_the_ui():
    rules = explanations(BASELINE_POLICY)
    assert len(rules) == BASELINE_POLICY.count("@id(") == 10
    assert all(text.strip() for text in rules.values())
    assert set(rules) | {DEFAULT_DENY, EVALUATION_ERROR} == set(BASELINE_EXPLANATIONS)


def test_a_standing_entitlement_whose_scope_matches_allows_the_call(evaluator):
    assert_allowed(decide(evaluator), "allow-standing-entitlement")


def test_a_call_nothing_covers_is_denied_by_default(evaluator):
    assert decide(evaluator, entitlements=()).reasons == [DEFAULT_DENY]
    assert decide(evaluator, resource={"repo": "other-org/api"}).reasons == [DEFAULT_DENY]
    assert decide(evaluator, resource={}).reasons == [DEFAULT_DENY]  # the scope names `repo`; it must be given


def test_an_expired_or_revoked_entitlement_covers_nothing(evaluator):
    expired = standing("github.read_repo", "read", expires_at=NOW)
    revoked = standing("github.read_repo", "read", revoked=True)
    future = standing("github.read_repo", "read", valid_from=NOW + MINUTE)
    for entitlement in (expired, revoked, future):
        assert decide(evaluator, entitlements=(entitlement,)).reasons == [DEFAULT_DENY]


def test_a_suspended_identity_is_denied_and_an_active_one_is_not(evaluator):
    assert_denied_by(decide(evaluator, identity=identity(status="suspended")), "deny-identity-not-active")
    assert decide(evaluator, identity=identity(status="active")).allow


@pytest.mark.parametrize(
    "aup",
    [
        None,
        AcceptableUseSnapshot(NOW - 60 * DAY, NOW - DAY, AUP_TOOLS),
        AcceptableUseSnapshot(NOW + DAY, None, AUP_TOOLS),
    ],
    ids=["missing", "expired", "not yet in force"],
)
def test_an_acceptable_use_record_not_in_force_denies(evaluator, aup):
    assert_denied_by(decide(evaluator, identity=identity(acceptable_use=aup)), "deny-acceptable-use-invalid")


def test_an_acceptable_use_record_without_an_end_is_in_force(evaluator):
    aup = AcceptableUseSnapshot(NOW - DAY, None, AUP_TOOLS)
    assert decide(evaluator, identity=identity(acceptable_use=aup)).allow


def test_a_tool_outside_the_acceptable_use_record_is_denied_even_when_entitled(evaluator):
    decision = decide(evaluator, tool="slack.post_message", resource={"repo": "acme/x"})
    assert_denied_by(decision, "deny-tool-outside-acceptable-use")
    assert "allow-standing-entitlement" not in decision.reasons


@pytest.mark.parametrize("call", [WRITE_PR, ADMIN_PR], ids=["write", "admin"])
@pytest.mark.parametrize("tier", ["high", "critical"])
def test_a_standing_write_or_admin_on_a_high_or_critical_identity_is_denied(evaluator, call, tier):
    assert_denied_by(decide(evaluator, **call, identity=identity(risk_tier=tier)), RULE_HIGH)


@pytest.mark.parametrize("tier", ["low", "medium"])
def test_a_standing_write_on_a_low_or_medium_identity_is_allowed(evaluator, tier):
    assert_allowed(decide(evaluator, **WRITE_PR, identity=identity(risk_tier=tier)), "allow-standing-entitlement")


def test_a_standing_read_on_a_critical_identity_is_allowed(evaluator):
    assert decide(evaluator, identity=identity(risk_tier="critical")).allow


def test_the_tier_that_counts_is_the_current_one_not_the_one_at_grant_time(evaluator):
    # The entitlement was granted months ago while the identity was medium; since then its tier rose.
    old = (standing("github.create_pull_request", "write", valid_from=NOW - 90 * DAY),)
    assert decide(evaluator, **WRITE_PR, entitlements=old, identity=identity(risk_tier="medium")).allow
    decision = decide(evaluator, **WRITE_PR, entitlements=old, identity=identity(risk_tier="high"))
    assert_denied_by(decision, RULE_HIGH)  # same evaluator, same identity id: no stale cached entity


def test_a_high_identity_may_write_through_jit_while_it_also_holds_the_standing_entitlement(evaluator):
    both = (standing("github.create_pull_request", "write"), jit("github.create_pull_request", "write"))
    decision = decide(evaluator, **WRITE_PR, entitlements=both, grants=(grant(),), identity=identity(risk_tier="high"))
    assert decision.allow
    assert set(decision.reasons) == {"allow-standing-entitlement", "allow-jit"}


def test_a_valid_exception_lifts_the_high_tier_rule_and_an_expired_one_does_not(evaluator):
    high = identity(risk_tier="high")
    valid = exception(RULE_HIGH)
    expired = exception(RULE_HIGH, valid_until=NOW - MINUTE)
    revoked = exception(RULE_HIGH, revoked=True)
    other_rule = exception("deny-production-secrets-without-jit")
    other_entitlement = exception(RULE_HIGH, entitlement_id="ent-somewhere-else")
    own_entitlement = exception(RULE_HIGH, entitlement_id="ent-github.create_pull_request-write")
    assert decide(evaluator, **WRITE_PR, identity=high, exceptions=(valid,)).allow
    assert decide(evaluator, **WRITE_PR, identity=high, exceptions=(own_entitlement,)).allow
    for useless in (expired, revoked, other_rule, other_entitlement):
        assert_denied_by(decide(evaluator, **WRITE_PR, identity=high, exceptions=(useless,)), RULE_HIGH)


def test_a_production_secret_tool_needs_jit_not_standing_access(evaluator):
    standing_only = (standing("vault.read_secret", "read"),)
    assert_denied_by(decide(evaluator, **SECRET, entitlements=standing_only), "deny-production-secrets-without-jit")
    through_jit = (jit("vault.read_secret", "read"),)
    assert_allowed(decide(evaluator, **SECRET, entitlements=through_jit, grants=(grant(),)), "allow-jit")


@pytest.mark.parametrize(
    "the_grant",
    [
        grant(ends_at=NOW),  # its end passed, even if no job has marked it ended yet
        grant(starts_at=NOW + MINUTE),
        grant(ended=True),
        grant(task_id="another-task"),
        None,
    ],
    ids=["past its end", "not started", "ended", "bound to another task", "missing"],
)
def test_a_jit_entitlement_whose_grant_is_not_in_force_for_this_task_covers_nothing(evaluator, the_grant):
    grants = () if the_grant is None else (the_grant,)
    decision = decide(evaluator, **SECRET, entitlements=(jit("vault.read_secret", "read"),), grants=grants)
    assert_denied_by(decision, "deny-production-secrets-without-jit")


def test_an_expired_or_revoked_token_is_denied(evaluator):
    assert_denied_by(decide(evaluator, now=NOW + 10 * MINUTE), "deny-token-inactive")
    revoked = TokenSnapshot("jti-1", NOW + MINUTE, frozenset({"github.read_repo:read"}), revoked=True)
    assert_denied_by(decide(evaluator, token=revoked), "deny-token-inactive")


def test_a_call_in_a_completed_task_is_denied(evaluator):
    assert_denied_by(decide(evaluator, task_completed=True), "deny-task-ended")


def test_a_call_outside_the_tokens_scope_is_denied(evaluator):
    other = TokenSnapshot("jti-1", NOW + MINUTE, frozenset({"github.read_repo:write"}))
    assert_denied_by(decide(evaluator, token=other), "deny-outside-token-scope")


# The evaluator


def test_the_evaluated_request_is_json_for_the_decision_log(evaluator):
    decision = decide(evaluator)
    stored = json.loads(json.dumps(decision.evaluated))
    assert stored["request"]["context"]["actor"] == "spiffe://prod.example.com/agent/orchestrator"
    assert stored["request"]["action"] == {"type": "Action", "id": "call_read"}
    assert [e["uid"]["type"] for e in stored["entities"]] == ["Identity", "Tool"]
    assert decision.version == "baseline"


def test_an_unknown_action_is_refused_with_the_allowed_ones_named(evaluator):
    with pytest.raises(InvalidDecisionRequest, match="read, write, admin, execute"):
        decide(evaluator, action="delete")


def test_the_evaluator_reparses_only_when_the_version_changes():
    engine = PolicyEvaluator()
    with pytest.raises(RuntimeError, match="ensure"):
        engine.decide(example_request())
    engine.ensure("v1", BASELINE_POLICY)
    assert engine.decide(example_request()).allow

    def must_not_load():
        raise AssertionError("the same version was parsed again")

    engine.ensure("v1", must_not_load)
    stricter = BASELINE_POLICY + '@id("deny-prod")\n@explanation("x")\nforbid (principal, action, resource);'
    engine.ensure("v2", lambda: stricter)
    decision = engine.decide(example_request())
    assert (decision.allow, decision.reasons, decision.version) == (False, ["deny-prod"], "v2")


def test_a_rule_that_fails_to_evaluate_denies_instead_of_being_skipped():
    engine = PolicyEvaluator()
    # Cedar skips an erroring forbid; the evaluator must not let that turn into an allow.
    overflow = "forbid (principal, action, resource) when { context.chain_depth + 9223372036854775807 > 0 };"
    engine.ensure("v", "permit (principal, action, resource);\n" + overflow)
    decision = engine.decide(example_request())
    assert decision.allow is False
    assert decision.reasons == [EVALUATION_ERROR]
    assert decision.errors


def test_a_batch_decides_each_call_as_a_single_decision_would(evaluator):
    high = identity(risk_tier="high")
    requests = [
        example_request(identity=high),
        example_request(**WRITE_PR, identity=high),
        example_request(**SECRET, identity=high, entitlements=(jit("vault.read_secret", "read"),), grants=(grant(),)),
        example_request(tool="slack.post_message", identity=high),
        example_request(entitlements=(), identity=high),
    ]
    batch = evaluator.decide_batch(requests)
    single = [evaluator.decide(request) for request in requests]
    assert [(d.allow, d.reasons, d.evaluated) for d in batch] == [(d.allow, d.reasons, d.evaluated) for d in single]
    assert [d.allow for d in batch] == [True, False, True, False, False]
    assert evaluator.decide_batch([]) == []


def test_a_batch_refuses_two_different_snapshots_of_one_identity(evaluator):
    with pytest.raises(ValueError, match="two different snapshots"):
        evaluator.decide_batch([example_request(), example_request(identity=identity(risk_tier="high"))])


# Validation of drafts


def test_a_draft_whose_test_case_fails_is_reported_by_name():
    wrong = replace(baseline_cases()[0], expect="deny")
    errors = validate(BASELINE_POLICY, SCHEMA, [wrong])
    assert errors == ["test 'standing read is allowed': expected deny, got allow (rules: allow-standing-entitlement)"]


def test_a_test_case_expecting_a_rule_that_did_not_decide_is_reported():
    case = PolicyTestCase.from_request("secret", example_request(entitlements=()), "deny", ["deny-task-ended"])
    assert validate(BASELINE_POLICY, SCHEMA, [case]) == [
        "test 'secret': expected rules deny-task-ended among default-deny"
    ]


def test_a_stricter_draft_fails_the_baseline_cases_it_contradicts():
    draft = (
        BASELINE_POLICY
        + '@id("deny-write")\n@explanation("No writes.")\nforbid (principal, action == Action::"call_write", resource);'
    )
    errors = validate(draft, SCHEMA, baseline_cases())
    assert errors == [
        "test 'standing write on a medium identity': expected allow, got deny (rules: deny-write)",
        "test 'standing write on a high identity with an exception': expected allow, got deny (rules: deny-write)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("permit (principal, action, resource", "does not parse"),
        (
            '@id("a")\n@explanation("x")\npermit (principal, action, resource) when { principal.risk_tier > 2 };',
            "rule a:",
        ),
        (
            '@id("a")\n@explanation("x")\npermit (principal, action, resource) when { principal.colour == "red" };',
            "rule a:",
        ),
        ('@explanation("x")\npermit (principal, action, resource);', "rule #1 has no @id"),
        ('@id("a")\npermit (principal, action, resource);', "rule a has no @explanation"),
        ('@id("a")\n@explanation("x")\npermit (principal, action, resource);\n' * 2, "rule id 'a' is used twice"),
        ('@id("t")\n@explanation("x")\npermit (principal == ?principal, action, resource);', "template"),
    ],
)
def test_a_draft_that_breaks_the_rules_of_the_house_is_refused(text, message):
    errors = validate(text, SCHEMA)
    assert any(message in error for error in errors), errors


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"name": "x", "entities": [], "request": {}, "expect": "allow"}, "principal, action and resource"),
        ({"name": "x", "entities": [], "request": {"principal": 1}, "expect": "maybe"}, "`expect`"),
        ({"entities": []}, "needs a `name`"),
        ({**baseline_cases()[0].as_json(), "entities": [{"uid": {"type": "Robot", "id": "r"}, "attrs": {}}]},
         "do not fit the schema"),
    ],
)  # fmt: skip
def test_a_malformed_test_case_is_reported_not_raised(case, message):
    errors = validate(BASELINE_POLICY, SCHEMA, [case])
    assert len(errors) == 1
    assert message in errors[0]


def test_test_cases_survive_a_json_round_trip():
    cases = baseline_cases()
    stored = json.loads(json.dumps([case.as_json() for case in cases]))
    assert [PolicyTestCase.from_json(data) for data in stored] == cases
    assert validate(BASELINE_POLICY, SCHEMA, stored) == []


# Replay (simulation)


def recorded(evaluator):
    calls = {
        "read": example_request(),
        "write-medium": example_request(**WRITE_PR, identity=identity(risk_tier="medium")),
        "write-low": example_request(**WRITE_PR),
        "secret-jit": example_request(**SECRET, entitlements=(jit("vault.read_secret", "read"),), grants=(grant(),)),
        "secret-standing": example_request(**SECRET, entitlements=(standing("vault.read_secret", "read"),)),
        "suspended": example_request(identity=identity(id="9a-other", status="suspended")),
    }
    records = []
    for call_id, request in calls.items():
        decision = evaluator.decide(request)
        # As the decision log would hold it: JSON in, JSON out.
        records.append(RecordedDecision(call_id, json.loads(json.dumps(decision.evaluated)), decision.allow))
    return records


def test_replaying_a_stricter_draft_lists_exactly_the_calls_that_flip(evaluator):
    draft = BASELINE_POLICY + (
        '@id("deny-production-writes")\n@explanation("No writes to production tools.")\n'
        'forbid (principal, action == Action::"call_write", resource) when { resource.production };'
    )
    flips = replay(recorded(evaluator), draft)
    assert [(f.id, f.was_allow, f.now_allow, f.reasons) for f in flips] == [
        ("write-medium", True, False, ["deny-production-writes"]),
        ("write-low", True, False, ["deny-production-writes"]),
    ]


def test_replaying_a_looser_draft_lists_the_denials_it_would_allow(evaluator):
    looser = BASELINE_POLICY.replace("when { resource.production_secrets }", "when { false }")
    flips = replay(recorded(evaluator), looser)
    assert [(f.id, f.was_allow, f.now_allow) for f in flips] == [("secret-standing", False, True)]


def test_replaying_the_same_policy_flips_nothing(evaluator):
    assert replay(recorded(evaluator), BASELINE_POLICY) == []
