"""The registry's pure rules: SPIFFE IDs, scope matching and the risk tier."""

import random
import re
import time

import pytest

from identities.risk import RiskInputs, StandingAccess, assess_risk
from identities.scope import InvalidScope, glob_match, scope_matches, scope_within, validate_scope
from identities.spiffe import InvalidSpiffeId, normalise_spiffe_id, parse_spiffe_id


@pytest.mark.parametrize(
    "value",
    [
        "spiffe://prod.example.com/agent/triage/wf/intake",
        "spiffe://example.org",
        "SPIFFE://td_1/a.b-c_d",
        "spiffe://10.0.0.1/x",
    ],
)
def test_valid_spiffe_ids_are_accepted(value):
    assert parse_spiffe_id(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("spiffe://example.org/agent?x=1", "query"),
        ("spiffe://example.org/agent#frag", "fragment"),
        ("spiffe://Example.org/agent", "lowercase"),
        ("spiffe://example.org/agent/", "must not end with '/'|trailing"),
        ("spiffe://example.org/", "must not end"),
        ("spiffe://example.org//agent", "empty segments"),
        ("spiffe://example.org/a/../b", r"'\.' or '\.\.'"),
        ("spiffe://example.org/a%20b", "percent"),
        ("spiffe://user@example.org/a", "user information"),
        ("spiffe://example.org:443/a", "port"),
        ("spiffe:///a", "trust domain"),
        ("https://example.org/a", "spiffe://"),
        ("spiffe://example.org/a b", "path segments"),
        ("spiffe://" + "a" * 256, "255 bytes"),
        ("spiffe://example.org/" + "a" * 2100, "2048 bytes"),
        ("", "empty"),
    ],
)
def test_invalid_spiffe_ids_are_refused_with_a_reason(value, reason):
    with pytest.raises(InvalidSpiffeId, match=reason):
        parse_spiffe_id(value)


def test_the_scheme_is_normalised_to_lowercase_but_the_path_keeps_its_case():
    assert normalise_spiffe_id("SPIFFE://td/Agent/X") == "spiffe://td/Agent/X"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("acme/*", "acme/api", True),
        ("acme/*", "acme/api/sub", False),
        ("acme/**", "acme/api/sub", True),
        ("release-?", "release-1", True),
        ("release-?", "release-10", False),
        ("[prod]", "[prod]", True),
        ("[prod]", "p", False),
        ("Acme/*", "acme/api", False),
        ("*", "", True),
        ("db.*", "db.orders", True),
        ("db.*", "dbxorders", False),
        ("*/*", "a/b", True),
        ("*/*", "a/b/c", False),
        ("*-*-**", "a-b-c/d", True),
        ("*-*-*", "a-b-c/d", False),
        ("a***b", "a/x/b", True),  # a run holding ** is **
        ("**.?*", "x/y.z", True),
        ("?*?", "a", False),
        ("**", "", True),
    ],
)
def test_glob_patterns_match_as_documented(pattern, value, expected):
    assert glob_match(pattern, value) is expected


def documented(pattern: str, value: str) -> bool:
    """The module docstring's rules as a regular expression, for comparison on short inputs only."""
    parts = re.split(r"(\*\*+|\*|\?)", pattern)
    regex = {"*": "[^/]*", "?": "[^/]"}
    return re.fullmatch("".join(".*" if p.startswith("**") else regex.get(p) or re.escape(p) for p in parts),
                        value, re.DOTALL) is not None  # fmt: skip


def test_glob_matching_agrees_with_the_documented_rules_on_random_patterns():
    rng = random.Random(9)
    for _ in range(20_000):
        pattern = "".join(rng.choice("ab/*?.") for _ in range(rng.randint(0, 8)))
        value = "".join(rng.choice("ab/.") for _ in range(rng.randint(0, 9)))
        assert glob_match(pattern, value) is documented(pattern, value), (pattern, value)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("**a" * 8 + "b", "a" * 40),  # a backtracking regular expression took 5 s on this one
        ("*a" * 8 + "b", "a" * 40),
        ("**a" * 170 + "b", "a" * 1024),  # the longest pattern against the longest resource value
        ("*" + "?*" * 255, "x" * 1024),
    ],
)
def test_glob_matching_is_linear_in_the_value_whatever_the_pattern(pattern, value):
    """Patterns (scopes, acceptable-use tool globs) and the values matched (a gateway's resource attributes
    and tool keys) both come from outside: no pair may hold a decision for long."""
    started = time.perf_counter()
    glob_match(pattern, value)
    assert time.perf_counter() - started < 0.5


def test_a_scope_matches_only_when_every_named_attribute_matches():
    scope = {"repo": "acme/*", "branch": "feature/**"}
    assert scope_matches(scope, {"repo": "acme/api", "branch": "feature/x/y", "extra": "ignored"})
    assert not scope_matches(scope, {"repo": "acme/api"})  # a missing attribute never matches
    assert not scope_matches(scope, {"repo": "other/api", "branch": "feature/x"})
    assert not scope_matches(scope, {"repo": "acme/api", "branch": 7})
    assert scope_matches({}, {"anything": "at all"})


def test_scope_within_is_conservative():
    assert scope_within({"repo": "acme/api"}, {"repo": "acme/*"})
    assert scope_within({"repo": "acme/*", "branch": "main"}, {"repo": "acme/*"})
    assert not scope_within({"repo": "acme/**"}, {"repo": "acme/*"})
    assert not scope_within({}, {"repo": "acme/*"})
    assert scope_within({"repo": "x/y"}, {"repo": "**"})


def test_validate_scope_names_the_bad_attribute():
    assert validate_scope({"b": "2", "a": "1"}) == {"a": "1", "b": "2"}
    with pytest.raises(InvalidScope, match="'Repo'"):
        validate_scope({"Repo": "x"})
    with pytest.raises(InvalidScope, match="'repo' needs a non-empty"):
        validate_scope({"repo": ""})
    with pytest.raises(InvalidScope, match="JSON object"):
        validate_scope(["repo"])


def risk(**kwargs):
    base = {"kind": "agent", "environment": "dev", "exposure": "internal"}
    return assess_risk(RiskInputs(**{**base, **kwargs}))


def test_a_read_only_internal_identity_is_low_risk():
    assessment = risk(standing=(StandingAccess("read"),))
    assert assessment.tier == "low" and assessment.reasons == ()


def test_an_agent_that_generates_code_outranks_an_ordinary_service_account():
    assert risk(capabilities=frozenset({"generates_code"})).tier == "medium"
    assert risk(kind="service_account").tier == "low"
    assert risk(environment="prod", capabilities=frozenset({"generates_code"})).tier == "high"


def test_production_secrets_rank_high_and_critical_when_combined_with_change_in_production():
    assert risk(capabilities=frozenset({"production_secrets"})).tier == "high"
    secret_tool = StandingAccess("read", production_tool=True, production_secret_tool=True)
    assert risk(standing=(secret_tool,)).tier == "high"
    critical = risk(environment="prod", capabilities=frozenset({"production_secrets", "modifies_infrastructure"}))
    assert critical.tier == "critical"
    assert critical.reasons[0].code == "production_secrets_and_change"


def test_standing_write_and_admin_raise_the_tier():
    assert risk(standing=(StandingAccess("write"),)).tier == "medium"
    assert risk(standing=(StandingAccess("write", production_tool=True),)).tier == "high"
    assert risk(standing=(StandingAccess("admin"),)).tier == "high"


def test_every_contributing_rule_is_explained_highest_first():
    assessment = risk(
        environment="prod", exposure="customer_facing", capabilities=frozenset({"internet_egress", "delegates"})
    )
    assert assessment.tier == "high"
    codes = [reason.code for reason in assessment.reasons]
    assert codes[0] == "internet_egress"
    assert {"delegates", "customer_facing_prod"} <= set(codes)
