"""Filters of the registry, shared by the browser pages and the API (django-filter FilterSets).

Each FilterSet narrows a queryset it is given — start it from `Identity.objects.restrict(user, ...)` so
filtering never widens what the actor may see. Every filter is an equality on an indexed column, a GIN
containment on `flags`, or an EXISTS on current ownership, so a filtered list stays a keyset scan.

    IdentityFilter(request.GET, queryset=Identity.objects.restrict(user), request=request).qs
"""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from agentiam.permissions import Role
from identities.models import (
    Action,
    DataClass,
    Entitlement,
    EntitlementMode,
    Environment,
    Flag,
    Identifier,
    IdentityKind,
    IdentityStatus,
    RiskTier,
    System,
    SystemKind,
    Tool,
)
from identities.models.registry import Identity, current_ownerships
from identities.widgets import PersonPicker

User = get_user_model()
ANY_FLAG = "any"
MAX_SEARCH = 200


def owner_candidates() -> QuerySet:
    """Persons who may be named owners: active and holding the identity owner role."""
    return (
        User.objects.filter(is_active=True, groups__name=Role.IDENTITY_OWNER.value)
        .order_by("first_name", "last_name", "username")
        .distinct()
    )


def search_identities(queryset: QuerySet, value: str) -> QuerySet:
    """Name (contains) or one of its identifiers (contains), without duplicating rows."""
    value = (value or "").strip()[:MAX_SEARCH]
    if not value:
        return queryset
    by_identifier = Exists(Identifier.objects.filter(identity=OuterRef("pk"), value__icontains=value))
    return queryset.filter(Q(name__icontains=value) | Q(by_identifier))


class YesNoWidget(django_filters.widgets.BooleanWidget):
    """A true/false select whose options say what they mean ("Orphaned" / "Owned", not "Yes" / "No")."""

    def __init__(self, yes: str, no: str, either: str = "Either", attrs=None):
        super().__init__(attrs)
        self.choices = [("", either), ("true", yes), ("false", no)]


class PersonChoiceFilter(django_filters.ModelChoiceFilter):
    """A person by username, shown by name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("to_field_name", "username")
        kwargs.setdefault("widget", PersonPicker(attrs={"placeholder": "Any owner (username)"}))
        kwargs.pop("empty_label", None)
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        field = super().field
        field.label_from_instance = lambda person: person.get_full_name() or person.username
        return field


def owner_role_holders() -> QuerySet:
    """Persons holding the identity owner role, whatever their status (to find what a leaver owned)."""
    return User.objects.filter(groups__name=Role.IDENTITY_OWNER.value).order_by("first_name", "last_name", "username")


class IdentityFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=IdentityKind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(choices=IdentityStatus.choices, empty_label="Any status")
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices, label="Risk tier", empty_label="Any tier")
    environment = django_filters.ChoiceFilter(choices=Environment.choices, empty_label="Any environment")
    owner = PersonChoiceFilter(
        queryset=owner_role_holders(),
        method="by_owner",
        label="Owner",
        empty_label="Any owner",
        help_text="A current owner (any ownership role), by username.",
    )
    orphaned = django_filters.BooleanFilter(
        field_name="is_orphaned",
        label="Orphaned",
        help_text="true: no active accountable owner.",
        widget=YesNoWidget("Orphaned", "Owned", "Orphaned or not"),
    )
    flagged = django_filters.ChoiceFilter(
        choices=[(ANY_FLAG, "Any flag"), *Flag.choices],
        method="by_flag",
        label="Flagged",
        empty_label="Flagged or not",
        help_text='"any" for every flagged identity, or one flag.',
    )

    class Meta:
        model = Identity
        fields = ["kind", "status", "risk_tier", "environment", "owner", "orphaned", "flagged"]

    def by_owner(self, queryset, name, person):
        if person is None:
            return queryset
        return queryset.filter(Exists(current_ownerships().filter(identity=OuterRef("pk"), person=person)))

    def by_flag(self, queryset, name, value):
        if not value:
            return queryset
        if value == ANY_FLAG:
            return queryset.flagged()
        return queryset.filter(flags__contains=[value])


class IdentitySearchFilter(IdentityFilter):
    """IdentityFilter plus `q` (name or identifier), for callers without a search box of their own (the API)."""

    q = django_filters.CharFilter(method="search", label="Search", max_length=MAX_SEARCH)

    class Meta(IdentityFilter.Meta):
        fields = [*IdentityFilter.Meta.fields, "q"]

    def search(self, queryset, name, value):
        return search_identities(queryset, value)


class SystemFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=SystemKind.choices, empty_label="Any kind")

    class Meta:
        model = System
        fields = ["kind"]


class ToolFilter(django_filters.FilterSet):
    system = django_filters.ModelChoiceFilter(
        queryset=System.objects.order_by("name"),
        to_field_name="uuid",
        empty_label="Any system",
    )
    action = django_filters.ChoiceFilter(
        choices=Action.choices, method="by_action", label="Supports", empty_label="Any action"
    )
    sensitivity = django_filters.ChoiceFilter(choices=RiskTier.choices, empty_label="Any sensitivity")
    data_class = django_filters.ChoiceFilter(choices=DataClass.choices, label="Data class", empty_label="Any data")
    production = django_filters.BooleanFilter(widget=YesNoWidget("Production", "Not production"))
    production_secrets = django_filters.BooleanFilter(
        label="Production secrets", widget=YesNoWidget("Production secrets", "No production secrets")
    )
    third_party = django_filters.BooleanFilter(label="Third party", widget=YesNoWidget("Third party", "First party"))

    class Meta:
        model = Tool
        fields = ["system", "action", "sensitivity", "data_class", "production", "production_secrets", "third_party"]

    def by_action(self, queryset, name, value):
        return queryset.filter(actions__contains=[value]) if value else queryset


class EntitlementStateFilter(django_filters.FilterSet):
    """Entitlements by action, mode and state (a tool's holders, an identity's access)."""

    action = django_filters.ChoiceFilter(choices=Action.choices, empty_label="Any action")
    mode = django_filters.ChoiceFilter(choices=EntitlementMode.choices, empty_label="Any mode")
    active = django_filters.BooleanFilter(
        field_name="revoked_at",
        lookup_expr="isnull",
        label="State",
        widget=YesNoWidget("Active", "Revoked", "Active or revoked"),
    )

    class Meta:
        model = Entitlement
        fields = ["action", "mode", "active"]


class EntitlementFilter(EntitlementStateFilter):
    """For the API: entitlements by identity (its UUID) and tool (its key) too."""

    identity = django_filters.UUIDFilter(field_name="identity__uuid")
    tool = django_filters.CharFilter(field_name="tool__key", label="Tool key")

    class Meta(EntitlementStateFilter.Meta):
        fields = ["identity", "tool", "action", "mode", "active"]


__all__ = [
    "ANY_FLAG",
    "EntitlementFilter",
    "EntitlementStateFilter",
    "IdentityFilter",
    "IdentitySearchFilter",
    "SystemFilter",
    "ToolFilter",
    "owner_candidates",
    "owner_role_holders",
    "search_identities",
]
