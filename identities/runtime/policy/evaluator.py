"""The in-process policy decision: one parsed PolicySet per policy version, entities cached per snapshot.

A worker keeps one PolicyEvaluator. `ensure(version_id, text)` swaps the parsed set only when the
active version changed, so picking up a newly activated version costs one id comparison per request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cedarpy

from identities.runtime.policy.inputs import (
    aup_valid,
    cedar_request,
    evaluated_request,
    identity_entity,
    tool_entity,
)
from identities.runtime.policy.limits import check_policy_shape
from identities.runtime.policy.schema import SCHEMA
from identities.runtime.policy.snapshots import DecisionRequest

# Reasons that are not rules: cited when no rule decided, or when evaluation failed.
DEFAULT_DENY = "default-deny"
EVALUATION_ERROR = "evaluation-error"
SYSTEM_REASONS = {
    DEFAULT_DENY: "No rule allows this call, so it is denied.",
    EVALUATION_ERROR: "A rule could not be evaluated; the call is denied rather than risk skipping a deny rule.",
}
_CACHE_SIZE = 2048


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: list[str]
    errors: list[str] = field(default_factory=list)
    version: str = ""
    # The evaluated request as the decision log stores it, so a draft can be replayed against it later.
    # Its entity documents are shared with the evaluator's cache: serialise them, never mutate them.
    evaluated: dict[str, Any] = field(default_factory=dict)


def interpret(result: cedarpy.AuthzResult) -> tuple[bool, list[str], list[str]]:
    """Allow, reasons (rule ids) and errors from a cedarpy result — failing closed on any error.

    Cedar skips a policy whose evaluation errors, so an erroring forbid would not block; any error
    therefore denies.
    """
    diagnostics = result.diagnostics
    names = diagnostics.id_annotations_by_reason
    reasons = [names.get(policy_id) or policy_id for policy_id in diagnostics.reasons]
    errors = [str(error) for error in diagnostics.errors]
    if errors:
        return False, [*([] if result.allowed else reasons), EVALUATION_ERROR], errors
    if not result.allowed and not reasons:
        return False, [DEFAULT_DENY], errors
    return result.allowed, reasons, errors


class PolicyEvaluator:
    def __init__(self, *, schema: str = SCHEMA):
        self.schema_text = schema
        # Entities are built with the schema so Cedar knows the action entities; without it an
        # `action in …` condition would silently never match.
        self.schema = cedarpy.Schema.from_str(schema)
        self._active: tuple[str, cedarpy.PolicySet] | None = None
        self._entities: dict[tuple[Any, ...], cedarpy.Entities] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        return self._active[0] if self._active else None

    def ensure(self, version_id: str, policy_text: str | Callable[[], str]) -> None:
        """Use this policy version; parses only when it differs from the one loaded (text may be lazy)."""
        active = self._active
        if active is not None and active[0] == version_id:
            return
        with self._lock:
            if self._active is None or self._active[0] != version_id:
                text = policy_text() if callable(policy_text) else policy_text
                check_policy_shape(text)  # a text the native parser cannot survive never reaches it
                self._active = (version_id, cedarpy.PolicySet.from_str(text))

    def decide(self, request: DecisionRequest) -> Decision:
        version, policies = self._require_active()
        valid = aup_valid(request)
        key = (request.identity, valid, request.tool)
        entities = self._entities.get(key)
        if entities is None:
            entities = self._parse(key, [identity_entity(request.identity, valid), tool_entity(request.tool)])
        cedar = cedar_request(request)
        allow, reasons, errors = interpret(cedarpy.is_authorized(cedar, policies, entities))
        return Decision(allow, reasons, errors, version, evaluated_request(request, cedar))

    def decide_batch(self, requests: Sequence[DecisionRequest]) -> list[Decision]:
        """Many calls in one Cedar evaluation (entities are the union of the calls' identities and tools)."""
        if not requests:
            return []
        version, policies = self._require_active()
        valid = [aup_valid(request) for request in requests]
        identities = dict.fromkeys((r.identity, v) for r, v in zip(requests, valid, strict=True))
        tools = dict.fromkeys(r.tool for r in requests)
        key = (*identities, *tools)
        entities = self._entities.get(key)
        if entities is None:
            uids = [i.id for i, _ in identities]
            if len(set(uids)) != len(uids) or len({t.key for t in tools}) != len(tools):
                raise ValueError("a batch holds two different snapshots of the same identity or tool")
            documents = [identity_entity(i, v) for i, v in identities] + [tool_entity(t) for t in tools]
            entities = self._parse(key, documents)
        cedars = [cedar_request(request) for request in requests]
        results = cedarpy.is_authorized_batch(cedars, policies, entities)
        decisions = []
        for request, cedar, result in zip(requests, cedars, results, strict=True):
            allow, reasons, errors = interpret(result)
            decisions.append(Decision(allow, reasons, errors, version, evaluated_request(request, cedar)))
        return decisions

    def _require_active(self) -> tuple[str, cedarpy.PolicySet]:
        active = self._active
        if active is None:
            raise RuntimeError("no policy version loaded; call ensure(version_id, text) first")
        return active

    def _parse(self, key: tuple[Any, ...], documents: list[dict[str, Any]]) -> cedarpy.Entities:
        entities = cedarpy.Entities.from_json_str(json.dumps(documents), self.schema)
        # A full cache is dropped rather than evicted one by one: snapshots change when the registry
        # does, and a rebuild costs one parse per identity/tool pair.
        if len(self._entities) >= _CACHE_SIZE:
            self._entities = {}
        self._entities[key] = entities
        return entities
