"""API filters of the registry. Identities, systems, tools and entitlements reuse the browser's FilterSets
(`identities.filters`), so a query means the same on a page and in the API; the rest are small FilterSets
for resources that have no list page of their own. Identity references are public ids (UUIDs)."""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from identities.filters import (
    EntitlementFilter,
    IdentitySearchFilter,
    PersonChoiceFilter,
    owner_role_holders,
    search_identities,
)
from identities.models import (
    AcceptableUse,
    Credential,
    CredentialKind,
    Identifier,
    IdentifierKind,
    ImportJob,
    Ownership,
    OwnershipRole,
    RevocationStatus,
    RiskException,
    Task,
    Workflow,
)
from identities.models.registry import current_ownerships


@extend_schema_field(OpenApiTypes.STR)
class UsernameFilter(PersonChoiceFilter):
    """The page's owner filter, documented as what it takes: a username."""


class IdentityApiFilter(IdentitySearchFilter):
    """The identity list's filters (kind, status, risk_tier, environment, owner, orphaned, flagged, q) and
    `search`, the same free-text search under its API name."""

    owner = UsernameFilter(
        queryset=owner_role_holders(),
        method="by_owner",
        label="Owner",
        help_text="A current owner (any ownership role), by username.",
    )
    search = django_filters.CharFilter(method="search_text", label="Search", max_length=200)

    class Meta(IdentitySearchFilter.Meta):
        fields = [*IdentitySearchFilter.Meta.fields, "search"]

    def search_text(self, queryset, name, value):
        return search_identities(queryset, value)


class IdentityScopedFilter(django_filters.FilterSet):
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Identity (its id)")


class IdentifierFilter(IdentityScopedFilter):
    kind = django_filters.ChoiceFilter(choices=IdentifierKind.choices)
    value = django_filters.CharFilter(label="Value (exact)")

    class Meta:
        model = Identifier
        fields = ["identity", "kind", "value"]


class OwnershipFilter(IdentityScopedFilter):
    person = django_filters.CharFilter(field_name="person__username", label="Person (username)")
    role = django_filters.ChoiceFilter(choices=OwnershipRole.choices)
    current = django_filters.BooleanFilter(method="by_current", label="In force now")

    class Meta:
        model = Ownership
        fields = ["identity", "person", "role", "current"]

    def by_current(self, queryset, name, value):
        if value is None:
            return queryset
        now_ids = current_ownerships().values("pk")
        return queryset.filter(pk__in=now_ids) if value else queryset.exclude(pk__in=now_ids)


class AcceptableUseFilter(IdentityScopedFilter):
    class Meta:
        model = AcceptableUse
        fields = ["identity"]


class EntitlementApiFilter(EntitlementFilter):
    """The browser's entitlement filters (identity, tool key, action, mode, active) and the source."""

    source = django_filters.CharFilter()
    external_id = django_filters.CharFilter()

    class Meta(EntitlementFilter.Meta):
        fields = [*EntitlementFilter.Meta.fields, "source", "external_id"]


class RiskExceptionFilter(django_filters.FilterSet):
    entitlement = django_filters.UUIDFilter(field_name="entitlement__uuid")
    identity = django_filters.UUIDFilter(field_name="entitlement__identity__uuid")
    revoked = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = RiskException
        fields = ["entitlement", "identity", "revoked"]


class CredentialFilter(django_filters.FilterSet):
    holder = django_filters.UUIDFilter(field_name="holders__uuid", label="Held by (identity id)", distinct=False)
    kind = django_filters.ChoiceFilter(choices=CredentialKind.choices)
    revocation_status = django_filters.ChoiceFilter(choices=RevocationStatus.choices[1:])
    is_static = django_filters.BooleanFilter()

    class Meta:
        model = Credential
        fields = ["holder", "kind", "revocation_status", "is_static"]


class WorkflowFilter(django_filters.FilterSet):
    identity = django_filters.UUIDFilter(field_name="identities__uuid", distinct=False)

    class Meta:
        model = Workflow
        fields = ["identity"]


class TaskFilter(IdentityScopedFilter):
    state = django_filters.ChoiceFilter(choices=Task.State.choices)

    class Meta:
        model = Task
        fields = ["identity", "state"]


class ImportJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ImportJob.Status.choices)
    dry_run = django_filters.BooleanFilter()

    class Meta:
        model = ImportJob
        fields = ["status", "dry_run"]
