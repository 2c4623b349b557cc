"""The registry under /api/v1/: identities, identifiers, ownerships, acceptable use, systems, tools,
entitlements, exceptions, credentials, workflows, tasks and import. Registered on the shared router when
`identities.api` (autodiscovered by agentiam.api.urls) imports this package."""

from agentiam.api.routers import router

from .access import CredentialViewSet, EntitlementViewSet, ExceptionViewSet, SystemViewSet, TaskViewSet, ToolViewSet
from .identities import AcceptableUseViewSet, IdentifierViewSet, IdentityViewSet, OwnershipViewSet, WorkflowViewSet
from .imports import ImportViewSet

RESOURCES = [
    ("identities", IdentityViewSet, "identity"),
    ("identifiers", IdentifierViewSet, "identifier"),
    ("ownerships", OwnershipViewSet, "ownership"),
    ("acceptable-use", AcceptableUseViewSet, "acceptable-use"),
    ("systems", SystemViewSet, "system"),
    ("tools", ToolViewSet, "tool"),
    ("entitlements", EntitlementViewSet, "entitlement"),
    ("exceptions", ExceptionViewSet, "exception"),
    ("credentials", CredentialViewSet, "credential"),
    ("workflows", WorkflowViewSet, "workflow"),
    ("tasks", TaskViewSet, "task"),
    ("import", ImportViewSet, "import"),
]

for prefix, viewset, basename in RESOURCES:
    if not any(registered[0] == prefix for registered in router.registry):
        router.register(prefix, viewset, basename=basename)
