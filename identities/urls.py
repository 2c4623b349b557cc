from django.urls import path

from agentiam.dashboard import Panel, register_panel
from agentiam.navigation import NavEntry, register
from agentiam.permissions import SEE_EVERYTHING, Role
from identities.rules import READERS
from identities.views import imports, people, profile
from identities.views.registry import access, catalog, changes, dashboard, identities, lifecycle, lookup

urlpatterns = [
    path("people/", people.people_list, name="people"),
    path("people/new/", people.person_create, name="person_create"),
    path("people/<uuid:uuid>/", people.person_detail, name="person"),
    path("people/<uuid:uuid>/edit/", people.person_edit, name="person_edit"),
    path("people/<uuid:uuid>/status/", people.person_status, name="person_status"),
    path("people/<uuid:uuid>/roles/grant/", people.role_grant, name="role_grant"),
    path("people/<uuid:uuid>/roles/revoke/", people.role_revoke, name="role_revoke"),
    path("me/", profile.my_profile, name="my_profile"),
    path("me/tokens/", profile.token_create, name="token_create"),
    path("me/tokens/<uuid:uuid>/revoke/", profile.token_revoke, name="token_revoke"),
]

# The registry: identities and what they may do, systems and tools.
E = "identities/<uuid:uuid>/entitlements/<uuid:entitlement>"
C = "identities/<uuid:uuid>/credentials/<uuid:credential>"
urlpatterns += [
    path("identities/", identities.identity_list, name="identities"),
    path("people/lookup/", lookup.person_lookup, name="person_lookup"),
    path("identities/mine/", identities.identity_mine, name="identity_mine"),
    path("identities/new/", identities.identity_create, name="identity_create"),
    path("identities/transfer/", identities.identity_transfer, name="identity_transfer"),
    path("identities/<uuid:uuid>/", identities.identity_detail, name="identity"),
    path("identities/<uuid:uuid>/edit/", identities.identity_edit, name="identity_edit"),
    path("identities/<uuid:uuid>/suspend/", lifecycle.identity_suspend, name="identity_suspend"),
    path("identities/<uuid:uuid>/resume/", lifecycle.identity_resume, name="identity_resume"),
    path("identities/<uuid:uuid>/acceptable-use/new/", changes.aup_create, name="aup_create"),
    path("identities/<uuid:uuid>/owners/", changes.owner_assign, name="owner_assign"),
    path("identities/<uuid:uuid>/owners/<uuid:ownership>/end/", changes.owner_end, name="owner_end"),
    path("identities/<uuid:uuid>/identifiers/", changes.identifier_add, name="identifier_add"),
    path(
        "identities/<uuid:uuid>/identifiers/<uuid:identifier>/remove/",
        changes.identifier_remove,
        name="identifier_remove",
    ),
    path("identities/<uuid:uuid>/credentials/new/", changes.credential_register, name="credential_register"),
    path(f"{C}/revocation/", changes.credential_revocation, name="credential_revocation"),
    path(f"{C}/resolve/", changes.credential_resolve, name="credential_resolve"),
    path("identities/<uuid:uuid>/entitlements/new/", access.entitlement_grant, name="entitlement_grant"),
    path(f"{E}/revoke/", access.entitlement_revoke, name="entitlement_revoke"),
    path(f"{E}/replace/", access.entitlement_replace, name="entitlement_replace"),
    path(f"{E}/exception/", access.exception_accept, name="exception_accept"),
    path("identities/<uuid:uuid>/risk/override/", access.tier_override, name="tier_override"),
    path("identities/<uuid:uuid>/risk/clear/", access.tier_clear, name="tier_clear"),
    path("systems/", catalog.system_list, name="systems"),
    path("systems/new/", catalog.system_create, name="system_create"),
    path("systems/<uuid:uuid>/", catalog.system_detail, name="system"),
    path("systems/<uuid:uuid>/tools/new/", catalog.tool_create, name="tool_create"),
    path("tools/", catalog.tool_list, name="tools"),
    path("tools/<uuid:uuid>/", catalog.tool_detail, name="tool"),
    path("tools/<uuid:uuid>/edit/", catalog.tool_edit, name="tool_edit"),
]

# Registry import and export (identities/views/imports.py).
urlpatterns += [
    path("registry/imports/", imports.import_list, name="imports"),
    path("registry/imports/<uuid:uuid>/", imports.import_job, name="import_job"),
]

register(NavEntry("Identities", "All identities", "identities", READERS))
register(NavEntry("Identities", "My identities", "identity_mine", frozenset({Role.IDENTITY_OWNER})))
register(NavEntry("Access", "Systems", "systems", READERS))
register(NavEntry("Access", "Tools", "tools", READERS))
register(NavEntry("Identities", "Import and export", "imports", imports.IMPORT_READERS))
register(NavEntry("Administration", "People", "people", SEE_EVERYTHING))
register(NavEntry("Account", "My profile", "my_profile", None))
register_panel(
    Panel("registry", "identities/registry/dashboard_panel.html", READERS, dashboard.registry_panel, order=5)
)
