"""What every registry endpoint shares: UUIDs in URLs, role declarations, reads that start from what the
caller may see, and the services' refusals in the API's error shape — ValidationError → 400 naming the
field, PermissionDenied → 403 with the service's reason, Conflict → 409."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Exists, OuterRef, QuerySet
from rest_framework import exceptions, status, viewsets
from rest_framework.permissions import SAFE_METHODS

from agentiam.permissions import ALL_ROLES, SEE_EVERYTHING, Role, RolePermission, roles_of
from identities.errors import Conflict
from identities.models import Identity

READERS = ALL_ROLES  # owners and managers see their part of the registry only (Identity.objects.restrict)
CHANGERS = frozenset({Role.ADMINISTRATOR, Role.IDENTITY_OWNER})
SUSPENDERS = frozenset({Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.SECURITY_ANALYST})
ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this change."
    default_code = "conflict"


def api_error(error: Exception) -> Exception:
    """A service's refusal as the DRF exception that answers it (others unchanged)."""
    if isinstance(error, DjangoValidationError):
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        return exceptions.ValidationError(detail)
    if isinstance(error, Conflict):
        return ConflictError(str(error))
    if isinstance(error, DjangoPermissionDenied) and str(error):
        return exceptions.PermissionDenied(str(error))  # DRF would drop the service's reason
    return error


def visible_identities(user) -> QuerySet[Identity] | None:
    """The identities `user` may see, or None when that is all of them (no filter needed)."""
    if roles_of(user) & SEE_EVERYTHING:
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


class RegistryViewSet(viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = READERS
    write_roles = CHANGERS
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def handle_exception(self, exc):
        return super().handle_exception(api_error(exc))

    @property
    def writing(self) -> bool:
        return self.request.method not in SAFE_METHODS
