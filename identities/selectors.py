"""Reads about persons, always starting from what the actor may see."""

from __future__ import annotations

import django_filters
from django.contrib.auth.models import Group
from django.db.models import Prefetch, Q, QuerySet

from agentiam.permissions import ROLE_CHOICES, Role
from audit.models import AuditEntry
from identities.models import ApiToken, PersonStatus, Profile


class PersonFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=100)
    status = django_filters.ChoiceFilter(choices=PersonStatus.choices, empty_label="Any status")
    role = django_filters.ChoiceFilter(
        choices=[("none", "No role"), *ROLE_CHOICES], method="by_role", empty_label="Any role"
    )

    class Meta:
        model = Profile
        fields = ["q", "status", "role"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(user__username__icontains=value)
            | Q(user__first_name__icontains=value)
            | Q(user__last_name__icontains=value)
            | Q(user__email__icontains=value)
            | Q(employee_id__iexact=value)
        )

    def by_role(self, queryset, name, value):
        if value == "none":
            return queryset.filter(user__groups__isnull=True)
        return queryset.filter(user__groups__name=value)


def people_visible_to(actor) -> QuerySet[Profile]:
    groups = Group.objects.only("name")
    return (
        Profile.objects.restrict(actor)
        .with_people()
        .prefetch_related(Prefetch("user__groups", queryset=groups))
        .order_by("user__last_name", "user__first_name", "user__username")
    )


def roles_held(user) -> list[Role]:
    """Roles a person holds (whether or not they are active), in the vocabulary's order. Uses the
    prefetched groups when there are any."""
    names = {group.name for group in user.groups.all()}
    return [role for role in Role if role.value in names]


def person_activity(profile: Profile, *, limit: int = 10) -> list[AuditEntry]:
    """Recent audit entries about this person: their profile and their API tokens."""
    token_ids = [str(u) for u in ApiToken.objects.filter(user_id=profile.user_id).values_list("uuid", flat=True)]
    about = Q(object_type="identities.profile", object_id=str(profile.uuid))
    if token_ids:
        about |= Q(object_type="identities.apitoken", object_id__in=token_ids)
    entries = list(AuditEntry.objects.filter(about).order_by("-id")[:limit])
    for entry in entries:
        entry.details = [
            (key.replace("_", " "), role_text(value) if key == "role" else change_text(value))
            for key, value in sorted((entry.changes or {}).items())
        ]
    return entries


def role_text(value) -> str:
    return Role(value).label if value in Role._value2member_map_ else change_text(value)


def change_text(value) -> str:
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{change_text(value['from'])} → {change_text(value['to'])}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return "—" if value is None else str(value)


def tokens_of(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")
