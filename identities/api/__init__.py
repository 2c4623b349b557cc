"""identities' REST endpoints under /api/v1/, registered on the shared router when agentiam.api.urls
autodiscovers this package: persons and roles (`people`), one's own API tokens (`tokens`), and the registry —
identities, identifiers, ownerships, acceptable use and workflows (`identities`); systems, tools,
entitlements, exceptions, credentials and tasks (`access`); import and export (`imports`). Shared pieces:
`base` (visibility, the registry viewset), `inputs` (request bodies), `filters`, `serializers` and
`access_serializers` (answers), `people_serializers`."""

from agentiam.api.routers import router

from .access import CredentialViewSet, EntitlementViewSet, ExceptionViewSet, SystemViewSet, TaskViewSet, ToolViewSet
from .identities import AcceptableUseViewSet, IdentifierViewSet, IdentityViewSet, OwnershipViewSet, WorkflowViewSet
from .imports import ImportViewSet
from .people import MeViewSet, PersonViewSet
from .tokens import ApiTokenViewSet

__all__ = [
    "RESOURCES",
    "AcceptableUseViewSet",
    "ApiTokenViewSet",
    "CredentialViewSet",
    "EntitlementViewSet",
    "ExceptionViewSet",
    "IdentifierViewSet",
    "IdentityViewSet",
    "ImportViewSet",
    "MeViewSet",
    "OwnershipViewSet",
    "PersonViewSet",
    "SystemViewSet",
    "TaskViewSet",
    "ToolViewSet",
    "WorkflowViewSet",
]

# (prefix, viewset, basename) in registration order; "" is /api/v1/me/.
RESOURCES = [
    ("people", PersonViewSet, "person"),
    ("tokens", ApiTokenViewSet, "token"),
    ("", MeViewSet, "profile"),
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
