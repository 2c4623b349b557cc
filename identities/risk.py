"""Risk tier: a pure, documented function of what an identity can do and where.

Each rule that applies contributes a tier and a reason; the identity's tier is the highest contributed
(low when no rule applies). Rules, in words:

- touches production secrets (capability, or a standing entitlement on a production-secret tool) → high;
  critical when it also runs in production and can change what runs there (modifies infrastructure,
  generates code, or holds a standing admin entitlement);
- modifies infrastructure → medium; high in production;
- generates code → medium; high in production (an agent that writes code outranks an ordinary service
  account);
- a standing admin entitlement → high; a standing write or execute entitlement → medium, high on a
  production tool;
- delegates to other agents, or is itself a sub-agent two or more levels deep → medium;
- internet egress → medium; high when it is also customer-facing;
- customer-facing in production → medium; long-term memory while customer-facing → medium.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TIERS = ("low", "medium", "high", "critical")
_RANK = {tier: i for i, tier in enumerate(TIERS)}

CAPABILITIES = {
    "generates_code": "Generates code",
    "modifies_infrastructure": "Modifies infrastructure",
    "production_secrets": "Touches production secrets",
    "delegates": "Delegates to other agents",
    "long_term_memory": "Long-term memory",
    "internet_egress": "Internet egress",
}


@dataclass(frozen=True)
class StandingAccess:
    """One active standing entitlement, reduced to what risk depends on."""

    action: str  # read / write / admin / execute
    production_tool: bool = False
    production_secret_tool: bool = False


@dataclass(frozen=True)
class RiskInputs:
    kind: str  # agent / service_account / human
    environment: str  # dev / test / staging / prod
    exposure: str  # customer_facing / internal
    capabilities: frozenset[str] = frozenset()
    standing: tuple[StandingAccess, ...] = ()
    delegation_depth: int = 0


@dataclass(frozen=True)
class RiskReason:
    tier: str
    code: str
    text: str


@dataclass(frozen=True)
class RiskAssessment:
    tier: str
    reasons: tuple[RiskReason, ...] = field(default=())

    def as_json(self) -> list[dict[str, str]]:
        return [{"tier": r.tier, "code": r.code, "text": r.text} for r in self.reasons]


def higher(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def assess_risk(inputs: RiskInputs) -> RiskAssessment:
    prod = inputs.environment == "prod"
    customer = inputs.exposure == "customer_facing"
    caps = inputs.capabilities
    standing = inputs.standing
    reasons: list[RiskReason] = []

    def add(tier: str, code: str, text: str) -> None:
        reasons.append(RiskReason(tier, code, text))

    standing_admin = any(s.action == "admin" for s in standing)
    secret_tools = [s for s in standing if s.production_secret_tool]
    changes_what_runs = "modifies_infrastructure" in caps or "generates_code" in caps or standing_admin
    if "production_secrets" in caps or secret_tools:
        source = "capability" if "production_secrets" in caps else f"{len(secret_tools)} standing entitlement(s)"
        if prod and changes_what_runs:
            add(
                "critical",
                "production_secrets_and_change",
                f"Touches production secrets ({source}) and can change what runs in production",
            )
        else:
            add("high", "production_secrets", f"Touches production secrets ({source})")
    if "modifies_infrastructure" in caps:
        add(
            "high" if prod else "medium",
            "modifies_infrastructure",
            "Modifies infrastructure" + (" in production" if prod else ""),
        )
    if "generates_code" in caps:
        add("high" if prod else "medium", "generates_code", "Generates code" + (" in production" if prod else ""))
    if standing_admin:
        add("high", "standing_admin", "Holds a standing admin entitlement")
    writes = [s for s in standing if s.action in ("write", "execute")]
    if writes:
        on_prod = any(s.production_tool for s in writes)
        add(
            "high" if on_prod else "medium",
            "standing_write",
            f"Holds {len(writes)} standing write/execute entitlement(s)" + (" on production tools" if on_prod else ""),
        )
    if "delegates" in caps:
        add("medium", "delegates", "Delegates to other agents")
    if inputs.delegation_depth >= 2:
        add("medium", "deep_delegation", f"Runs as a sub-agent {inputs.delegation_depth} levels deep")
    if "internet_egress" in caps:
        add(
            "high" if customer else "medium",
            "internet_egress",
            "Internet egress" + (" while customer-facing" if customer else ""),
        )
    if customer and prod:
        add("medium", "customer_facing_prod", "Customer-facing in production")
    if customer and "long_term_memory" in caps:
        add("medium", "memory_customer_facing", "Keeps long-term memory while customer-facing")

    tier = "low"
    for reason in reasons:
        tier = higher(tier, reason.tier)
    reasons.sort(key=lambda r: -_RANK[r.tier])
    return RiskAssessment(tier=tier, reasons=tuple(reasons))


def tier_at_least(tier: str, floor: str) -> bool:
    return _RANK[tier] >= _RANK[floor]
