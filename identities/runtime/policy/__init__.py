"""Policy decisions with Cedar (cedarpy): schema, the shipped baseline, the evaluator, validation, replay."""

from identities.runtime.policy.baseline import BASELINE_POLICY, BASELINE_VERSION
from identities.runtime.policy.evaluator import (
    DEFAULT_DENY,
    EVALUATION_ERROR,
    SYSTEM_REASONS,
    Decision,
    PolicyEvaluator,
)
from identities.runtime.policy.inputs import InvalidDecisionRequest
from identities.runtime.policy.schema import ACTIONS, SCHEMA
from identities.runtime.policy.snapshots import (
    AcceptableUseSnapshot,
    DecisionRequest,
    EntitlementSnapshot,
    ExceptionSnapshot,
    GrantSnapshot,
    IdentitySnapshot,
    RequestContext,
    TaskSnapshot,
    TokenSnapshot,
    ToolSnapshot,
)
from identities.runtime.policy.validation import (
    Flip,
    InvalidTestCase,
    PolicyTestCase,
    RecordedDecision,
    explanations,
    replay,
    validate,
)

# Rule id → one-line explanation, for the UI; includes the reasons that are not rules.
BASELINE_EXPLANATIONS = {**explanations(BASELINE_POLICY), **SYSTEM_REASONS}

__all__ = [
    "ACTIONS",
    "BASELINE_EXPLANATIONS",
    "BASELINE_POLICY",
    "BASELINE_VERSION",
    "DEFAULT_DENY",
    "EVALUATION_ERROR",
    "SCHEMA",
    "SYSTEM_REASONS",
    "AcceptableUseSnapshot",
    "Decision",
    "DecisionRequest",
    "EntitlementSnapshot",
    "ExceptionSnapshot",
    "Flip",
    "GrantSnapshot",
    "IdentitySnapshot",
    "InvalidDecisionRequest",
    "InvalidTestCase",
    "PolicyEvaluator",
    "PolicyTestCase",
    "RecordedDecision",
    "RequestContext",
    "TaskSnapshot",
    "TokenSnapshot",
    "ToolSnapshot",
    "explanations",
    "replay",
    "validate",
]
