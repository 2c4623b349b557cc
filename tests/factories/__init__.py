"""factory_boy factories for every main model, by area. Import them from here:

    from tests.factories import EntitlementFactory, IdentityFactory

They write bare rows (no audit entry, no risk refresh); a test about behaviour goes through the services."""

from tests.factories.audit import AuditEntryFactory
from tests.factories.people import ApiTokenFactory, PersonFactory, SSOLinkFactory, UserFactory
from tests.factories.registry import (
    AcceptableUseFactory,
    CredentialFactory,
    EntitlementFactory,
    EntitlementUsageFactory,
    GrantFactory,
    IdentifierFactory,
    IdentityFactory,
    ImportJobFactory,
    JitEntitlementFactory,
    OwnershipFactory,
    RiskExceptionFactory,
    SystemFactory,
    TaskFactory,
    ToolFactory,
    WorkflowFactory,
)
from tests.factories.reviews import (
    ApprovalFactory,
    ApprovalRuleChangeFactory,
    ApprovalRuleFactory,
    BreakGlassFactory,
    DelegationFactory,
    ElevationRequestFactory,
    EligibilityFactory,
)
from tests.factories.runtime import (
    AssertionKeyFactory,
    DelegationRuleFactory,
    GatewayFactory,
    IssuedTokenFactory,
    OidcIssuerFactory,
    PolicyDecisionFactory,
    PolicyVersionFactory,
    ProvenanceRuleFactory,
    TokenRevocationFactory,
    TrustBundleFactory,
)

__all__ = [
    "AcceptableUseFactory",
    "ApiTokenFactory",
    "ApprovalFactory",
    "ApprovalRuleChangeFactory",
    "ApprovalRuleFactory",
    "AssertionKeyFactory",
    "AuditEntryFactory",
    "BreakGlassFactory",
    "CredentialFactory",
    "DelegationFactory",
    "DelegationRuleFactory",
    "ElevationRequestFactory",
    "EligibilityFactory",
    "EntitlementFactory",
    "EntitlementUsageFactory",
    "GatewayFactory",
    "GrantFactory",
    "IdentifierFactory",
    "IdentityFactory",
    "ImportJobFactory",
    "IssuedTokenFactory",
    "JitEntitlementFactory",
    "OidcIssuerFactory",
    "OwnershipFactory",
    "PersonFactory",
    "PolicyDecisionFactory",
    "PolicyVersionFactory",
    "ProvenanceRuleFactory",
    "RiskExceptionFactory",
    "SSOLinkFactory",
    "SystemFactory",
    "TaskFactory",
    "TokenRevocationFactory",
    "ToolFactory",
    "TrustBundleFactory",
    "UserFactory",
    "WorkflowFactory",
]
