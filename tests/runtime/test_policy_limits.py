"""A policy text nesting or chaining past what Cedar's native parser survives (it dies of a stack overflow,
killing the worker: found by bench/probe_hardening.py at 1,000 nested parentheses) is refused before it
reaches cedarpy: a draft holding one is never saved (400 naming policy_text and the limit, nothing written),
and one already stored is reported by validate, simulate and the pages instead of parsed.

The crash-sized texts below would kill the test process if a guard were missing: that is the failure."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from identities.runtime.models import PolicyVersion
from identities.runtime.policy import BASELINE_POLICY, PolicyEvaluator, explanations, replay, validate
from identities.runtime.policy.limits import (
    ERR_TOO_DEEP,
    ERR_TOO_LONG,
    MAX_NESTING,
    MAX_OPERATORS,
    PolicyTooComplex,
    check_policy_shape,
)
from identities.runtime.services import policies as services
from tests.runtime.test_policy_governance import active
from tests.support import sign_in

pytestmark = pytest.mark.django_db

RULE = '@id("probe")\n@explanation("A probe.")\npermit (principal, action, resource) when {{ {} }};\n'
TOO_DEEP = ERR_TOO_DEEP.format(limit=MAX_NESTING)
TOO_LONG = ERR_TOO_LONG.format(limit=MAX_OPERATORS)


def rule(condition: str) -> str:
    return RULE.format(condition)


def parentheses(levels: int) -> str:
    return rule("(" * levels + "true" + ")" * levels)


# Each shape at a size that crashed cedarpy 4.12 in a worker's main thread (8 MB stack).
CRASHING = [
    pytest.param(parentheses(1000), TOO_DEEP, id="1000 parentheses"),
    pytest.param(rule("[" * 1000 + "]" * 1000 + " == []"), TOO_DEEP, id="1000 sets"),
    pytest.param(rule("{a: " * 1000 + "1" + "}" * 1000 + " == {}"), TOO_DEEP, id="1000 records"),
    pytest.param(rule("if true then " * 10_000 + "true" + " else true" * 10_000), TOO_DEEP, id="10000 ifs"),
    pytest.param(rule(" + ".join(["1"] * 30_000) + " == 1"), TOO_LONG, id="30000 additions"),
    pytest.param(rule("context" + ".a" * 30_000 + " == 1"), TOO_LONG, id="30000 attribute accesses"),
]


def test_the_baseline_and_ordinary_rules_are_within_the_limits():
    check_policy_shape(BASELINE_POLICY)
    # Exactly at the limits: the braces of `when { … }` are one of the levels.
    check_policy_shape(parentheses(MAX_NESTING - 1))
    check_policy_shape(rule(" && ".join(["true"] * (MAX_OPERATORS + 1))))  # n operators join n + 1 operands
    # Long but flat: a set of 5,000 values, and many rules each under the operator limit.
    check_policy_shape(rule("context.repo in [" + ", ".join(f'"r{n}"' for n in range(5000)) + "]"))
    check_policy_shape(rule(" && ".join(["true"] * (MAX_OPERATORS // 2))) * 10)


def test_one_level_or_operator_past_the_limit_is_refused_naming_it():
    with pytest.raises(PolicyTooComplex, match=f"deeper than {MAX_NESTING} levels"):
        check_policy_shape(parentheses(MAX_NESTING))
    with pytest.raises(PolicyTooComplex, match=f"more than {MAX_OPERATORS} operators"):
        check_policy_shape(rule(" && ".join(["true"] * (MAX_OPERATORS + 2))))


def test_brackets_and_operators_inside_strings_and_comments_do_not_count():
    quoted = '"' + "(" * 1000 + '\\" && ' * 3000 + '"'
    check_policy_shape(rule(f"context.note == {quoted}") + "// " + "(" * 1000 + "\n")


def test_an_if_counts_until_the_bracket_around_it_closes():
    flat = " && ".join(["(if true then true else false)"] * 200)  # 200 ifs, each closed by its parenthesis
    check_policy_shape(rule(flat))
    with pytest.raises(PolicyTooComplex):
        check_policy_shape(rule("if true then " * MAX_NESTING + "true" + " else true" * MAX_NESTING))


@pytest.mark.parametrize(("text", "message"), CRASHING)
def test_every_entry_to_cedar_refuses_a_crashing_text_before_parsing_it(text, message):
    assert validate(text) == [message]
    for parse in (explanations, lambda t: replay([], t), lambda t: PolicyEvaluator().ensure("v", t)):
        with pytest.raises(PolicyTooComplex, match=message[:40]):
            parse(text)


@pytest.mark.parametrize(("text", "message"), CRASHING)
def test_a_draft_too_deep_for_the_parser_is_never_saved(cast, client, text, message):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    sign_in(client, cast.administrator)  # audited itself
    before = (draft.policy_text, AuditEntry.objects.count())
    response = client.put(f"/api/v1/policies/{draft.uuid}/", {"policy_text": text, "test_cases": []},
                          content_type="application/json")  # fmt: skip
    assert response.status_code == 400, response.content[:300]
    assert response.json()["fields"] == {"policy_text": [message]}
    page = client.post(reverse("runtime:policy-edit", args=[draft.uuid]),
                       {"summary": "deep", "policy_text": text, "test_cases": "[]"})  # fmt: skip
    assert page.status_code == 400 and message in page.content.decode()
    draft.refresh_from_db()
    assert (draft.policy_text, AuditEntry.objects.count()) == before


def test_a_deep_draft_stored_before_is_reported_by_validate_simulate_and_the_pages(cast, client):
    draft = services.policy_draft_create(actor=cast.administrator, parent=active())
    PolicyVersion.objects.filter(pk=draft.pk).update(policy_text=parentheses(1000))  # as an older server saved it
    sign_in(client, cast.auditor)
    validated = client.get(f"/api/v1/policies/{draft.uuid}/validate/")
    assert validated.status_code == 200 and validated.json() == {"valid": False, "errors": [TOO_DEEP]}
    simulated = client.get(f"/api/v1/policies/{draft.uuid}/simulate/")
    assert simulated.status_code == 400 and simulated.json()["fields"] == {"policy_text": [TOO_DEEP]}
    assert client.get(reverse("runtime:policy", args=[draft.uuid])).status_code == 200
    assert client.get(reverse("runtime:policy-simulate", args=[draft.uuid])).status_code == 400
