"""/api/v1/people/ and /api/v1/me/: persons, their roles, and the signed-in person's own profile."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from agentiam.adapters import api_call
from agentiam.api.pagination import CursorPagination
from agentiam.permissions import SEE_EVERYTHING, Role, RolePermission
from agentiam.stepup import step_up_required
from identities import services
from identities.models import Profile
from identities.selectors import PersonFilter, people_visible_to

from .people_serializers import PersonSerializer, RoleChangeSerializer

STEP_UP_NOTE = (
    "Administrators only, never on themselves, in a browser session stepped up within the last few minutes. "
    "An API token always gets 403 with error `step_up_required`."
)


class CreatedOrder(CursorPagination):
    ordering = "created_at"
    page_size = 50
    page_size_query_param = None  # a fixed page, as before


@extend_schema_view(
    list=extend_schema(summary="List persons", tags=["people"]),
    retrieve=extend_schema(summary="One person", tags=["people"]),
)
class PersonViewSet(viewsets.ReadOnlyModelViewSet):
    """Persons with their status, manager and roles: administrators, compliance officers, security analysts
    and auditors may read them; only administrators change roles, in a stepped-up browser session."""

    serializer_class = PersonSerializer
    permission_classes = [RolePermission]
    read_roles = SEE_EVERYTHING
    write_roles = frozenset({Role.ADMINISTRATOR})
    filterset_class = PersonFilter
    pagination_class = CreatedOrder
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return people_visible_to(self.request.user)

    @extend_schema(
        summary="Grant a role",
        tags=["people"],
        request=RoleChangeSerializer,
        description=STEP_UP_NOTE,
        responses={200: PersonSerializer},
    )
    @action(detail=True, methods=["post"], url_path="roles")
    @step_up_required
    def grant_role(self, request, id=None):
        return self._change_role(request, services.role_grant)

    @extend_schema(
        summary="Revoke a role",
        tags=["people"],
        request=RoleChangeSerializer,
        description=STEP_UP_NOTE,
        responses={200: PersonSerializer},
    )
    @action(detail=True, methods=["post"], url_path="roles/revoke")
    @step_up_required
    def revoke_role(self, request, id=None):
        return self._change_role(request, services.role_revoke)

    def _change_role(self, request, change):
        profile = self.get_object()
        body = RoleChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        api_call(change, actor=request.user, person=profile.user, role=body.validated_data["role"], request=request)
        profile = self.get_queryset().get(pk=profile.pk)
        return Response(PersonSerializer(profile).data)


class MeViewSet(viewsets.GenericViewSet):
    """The signed-in person's own profile; any signed-in person, with or without a role."""

    serializer_class = PersonSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = None
    filter_backends = []

    @extend_schema(summary="My profile", tags=["people"], responses=PersonSerializer)
    @action(detail=False, methods=["get"], url_path="me", url_name="me")
    def me(self, request):
        profile = Profile.objects.with_people().prefetch_related("user__groups").get(user=request.user)
        return Response(self.get_serializer(profile).data)
