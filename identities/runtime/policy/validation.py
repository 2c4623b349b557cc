"""Governing policy versions: validation before activation, and replay of recorded decisions.

`validate` is what blocks activating a draft: the text must parse, type-check against the schema, give
every rule an @id and an @explanation, and produce each test case's expected decision. `replay` runs a
draft over decisions as they were recorded (their stored entities and request, not today's registry)
and lists exactly the calls whose decision would change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cedarpy

from identities.runtime.policy.evaluator import interpret
from identities.runtime.policy.inputs import evaluated_request
from identities.runtime.policy.limits import PolicyTooComplex, check_policy_shape
from identities.runtime.policy.schema import SCHEMA
from identities.runtime.policy.snapshots import DecisionRequest

EXPECTATIONS = ("allow", "deny")


class InvalidTestCase(ValueError):
    pass


@dataclass(frozen=True)
class PolicyTestCase:
    """A request with the decision a policy version must give it (stored beside the version as JSON)."""

    name: str
    entities: list[dict[str, Any]]
    request: dict[str, Any]
    expect: str
    expect_reasons: tuple[str, ...] = ()

    @classmethod
    def from_request(
        cls, name: str, request: DecisionRequest, expect: str, expect_reasons: Sequence[str] = ()
    ) -> PolicyTestCase:
        evaluated = evaluated_request(request)
        return cls(name, evaluated["entities"], evaluated["request"], expect, tuple(expect_reasons))

    @classmethod
    def from_json(cls, data: object) -> PolicyTestCase:
        if not isinstance(data, Mapping):
            raise InvalidTestCase("a test case must be a JSON object")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidTestCase("a test case needs a `name`")
        if data.get("expect") not in EXPECTATIONS:
            raise InvalidTestCase(f"test {name!r}: `expect` must be 'allow' or 'deny'")
        if not isinstance(data.get("entities"), list):
            raise InvalidTestCase(f"test {name!r}: `entities` must be a list of Cedar entities")
        request = data.get("request")
        if not isinstance(request, Mapping) or not {"principal", "action", "resource"} <= request.keys():
            raise InvalidTestCase(f"test {name!r}: `request` needs principal, action and resource")
        reasons = data.get("expect_reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise InvalidTestCase(f"test {name!r}: `expect_reasons` must be a list of rule ids")
        return cls(name, list(data["entities"]), dict(request), data["expect"], tuple(reasons))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": self.entities,
            "request": self.request,
            "expect": self.expect,
            "expect_reasons": list(self.expect_reasons),
        }


def explanations(policy_text: str) -> dict[str, str]:
    """Rule id → its @explanation, for the UI (rules without an @id are left out)."""
    result: dict[str, str] = {}
    for policy in _static_policies(policy_text).values():
        annotations = policy.get("annotations", {})
        if annotations.get("id"):
            result[annotations["id"]] = annotations.get("explanation", "")
    return result


def validate(
    policy_text: str, schema: str = SCHEMA, test_cases: Iterable[PolicyTestCase | Mapping[str, Any]] = ()
) -> list[str]:
    """Every reason this policy text may not be activated; an empty list means it may."""
    try:
        check_policy_shape(policy_text)
    except PolicyTooComplex as error:
        return [str(error)]
    try:
        policies = cedarpy.PolicySet.from_str(policy_text)
    except ValueError as error:
        return [f"the policy text does not parse: {error}"]
    try:
        schema_handle = cedarpy.Schema.from_str(schema)
    except ValueError as error:
        return [f"the schema does not parse: {error}"]
    errors: list[str] = []
    result = cedarpy.validate_policies(policy_text, schema_handle)
    names = result.id_annotations_by_policy_id
    for error in result.errors:
        errors.append(f"rule {names.get(error.policy_id) or error.policy_id}: {error.error}")
    errors.extend(_annotation_errors(policy_text))
    for case in test_cases:
        try:
            parsed = case if isinstance(case, PolicyTestCase) else PolicyTestCase.from_json(case)
        except InvalidTestCase as error:
            errors.append(str(error))
            continue
        errors.extend(_run(parsed, policies, schema_handle))
    return errors


def _static_policies(policy_text: str) -> dict[str, dict[str, Any]]:
    check_policy_shape(policy_text)
    document = json.loads(cedarpy.policies_to_json_str(policy_text))
    return document.get("staticPolicies", {})


def _annotation_errors(policy_text: str) -> list[str]:
    check_policy_shape(policy_text)
    document = json.loads(cedarpy.policies_to_json_str(policy_text))
    # Positional ids ("policy0") follow the text's order, so "rule #n" points at the nth rule written.
    errors = [f"template {tid} is not supported; write a static rule" for tid in document.get("templates", {})]
    seen: set[str] = set()
    for position, policy in enumerate(document.get("staticPolicies", {}).values(), start=1):
        annotations = policy.get("annotations", {})
        rule_id = annotations.get("id")
        if not rule_id:
            errors.append(f'rule #{position} has no @id("…"); decisions cite rules by it')
            continue
        if rule_id in seen:
            errors.append(f"rule id {rule_id!r} is used twice")
        seen.add(rule_id)
        if not annotations.get("explanation", "").strip():
            errors.append(f'rule {rule_id} has no @explanation("…") for the people who read decisions')
    return errors


def _run(case: PolicyTestCase, policies: cedarpy.PolicySet, schema: cedarpy.Schema) -> list[str]:
    try:
        entities = cedarpy.Entities.from_json_str(json.dumps(case.entities), schema)
    except ValueError as error:
        return [f"test {case.name!r}: its entities do not fit the schema: {error}"]
    result = cedarpy.is_authorized(case.request, policies, entities, schema=schema)
    if result.decision == cedarpy.Decision.NoDecision:
        return [f"test {case.name!r}: its request does not fit the schema: {'; '.join(result.diagnostics.errors)}"]
    allow, reasons, errors = interpret(result)
    got = "allow" if allow else "deny"
    problems = []
    if got != case.expect:
        problems.append(f"test {case.name!r}: expected {case.expect}, got {got} (rules: {', '.join(reasons)})")
    missing = [reason for reason in case.expect_reasons if reason not in reasons]
    if missing and not problems:
        problems.append(f"test {case.name!r}: expected rules {', '.join(missing)} among {', '.join(reasons)}")
    problems.extend(f"test {case.name!r}: {error}" for error in errors)
    return problems


@dataclass(frozen=True)
class RecordedDecision:
    id: str
    evaluated: Mapping[str, Any]  # {"entities": [...], "request": {...}} as the decision log stored it
    allow: bool


@dataclass(frozen=True)
class Flip:
    id: str
    was_allow: bool
    now_allow: bool
    reasons: list[str]
    errors: list[str] = field(default_factory=list)


def replay(records: Iterable[RecordedDecision], policy_text: str, schema: str = SCHEMA) -> list[Flip]:
    """The recorded decisions whose outcome differs under `policy_text`, in the order given."""
    check_policy_shape(policy_text)
    policies = cedarpy.PolicySet.from_str(policy_text)
    schema_handle = cedarpy.Schema.from_str(schema)
    groups: dict[str, list[RecordedDecision]] = {}
    order: dict[str, int] = {}
    # Decisions on the same identity and tool share entities: parse them once and evaluate as a batch.
    for position, record in enumerate(records):
        order[record.id] = position
        key = json.dumps(record.evaluated["entities"], sort_keys=True)
        groups.setdefault(key, []).append(record)
    flips: list[Flip] = []
    for key, group in groups.items():
        entities = cedarpy.Entities.from_json_str(key, schema_handle)
        results = cedarpy.is_authorized_batch([r.evaluated["request"] for r in group], policies, entities)
        for record, result in zip(group, results, strict=True):
            allow, reasons, errors = interpret(result)
            if allow != record.allow:
                flips.append(Flip(record.id, record.allow, allow, reasons, errors))
    return sorted(flips, key=lambda flip: order[flip.id])
