"""What every registry endpoint shares: UUIDs in URLs, role declarations, reads that start from what the
caller may see, and the services' refusals in the API's error shape — ValidationError → 400 naming the
field, PermissionDenied → 403 with the service's reason, Conflict → 409 — and a write action's steps
(`RegistryViewSet.run`)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS

from agentiam.adapters import ServiceErrors
from agentiam.permissions import RolePermission, roles_of
from identities.models import Identity
from identities.rules import CHANGERS, READERS, sees_every_identity


def visible_identities(user) -> QuerySet[Identity] | None:
    """The identities `user` may see, or None when that is all of them (no filter needed)."""
    if sees_every_identity(roles_of(user)):
        return None
    return Identity.objects.restrict(user, "view")


def scoped(queryset: QuerySet, user, path: str = "identity") -> QuerySet:
    """Rows about identities `user` may see: `path` leads from the row to its identity."""
    visible = visible_identities(user)
    if visible is None:
        return queryset
    return queryset.filter(**{f"{path}__in": visible.values("pk")})


def held_by_visible(queryset: QuerySet, user) -> QuerySet:
    """Credentials with at least one holder `user` may see (an EXISTS, so rows are not repeated)."""
    visible = visible_identities(user)
    if visible is None:
        return queryset
    through = queryset.model.holders.through
    return queryset.filter(Exists(through.objects.filter(credential=OuterRef("pk"), identity__in=visible.values("pk"))))


class RegistryViewSet(ServiceErrors, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = READERS
    write_roles = CHANGERS
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    @property
    def writing(self) -> bool:
        return self.request.method not in SAFE_METHODS

    def run(self, body, service, *, partial: bool = False, target: str | None = None, **objects):
        """A write action's steps: the request's body validated by the serializer class `body` (400 naming the
        field), then `service(actor=, request=, **objects, **validated)` as the caller; `target` names the keyword
        this view's own object goes in as, read (404/403) once the body is valid."""
        given = body(data=self.request.data, partial=partial, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        if target:
            objects[target] = self.get_object()
        return service(actor=self.request.user, request=self.request, **objects, **given.validated_data)
