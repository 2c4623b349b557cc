"""REST endpoints for persons, roles and one's own API tokens, mounted under /api/v1/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from agentiam.adapters import api_call
from agentiam.api.routers import router
from agentiam.permissions import SEE_EVERYTHING, Role, RolePermission
from agentiam.stepup import step_up_required
from identities import services
from identities.models import Profile
from identities.selectors import PersonFilter, people_visible_to, tokens_of
from identities.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    PersonSerializer,
    RoleChangeSerializer,
)

SESSION_NEEDED_TO_MINT = "API tokens are created in a signed-in browser session, not with another token."
STEP_UP_NOTE = (
    "Administrators only, never on themselves, in a browser session stepped up within the last few minutes. "
    "An API token always gets 403 with error `step_up_required`."
)


class CreatedOrder(CursorPagination):
    ordering = "created_at"
    page_size = 50


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


@extend_schema_view(
    list=extend_schema(summary="My API tokens", tags=["tokens"]),
    retrieve=extend_schema(summary="One of my API tokens", tags=["tokens"]),
    create=extend_schema(
        summary="Create an API token (its secret is in this response only)",
        tags=["tokens"],
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke an API token", tags=["tokens"], responses={204: None}),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """One's own personal API tokens. Anyone signed in manages their own; nobody sees another's."""

    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = CreatedOrder
    filter_backends = []
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return tokens_of(self.request.user)

    def get_serializer_class(self):
        return ApiTokenCreateSerializer if self.action == "create" else ApiTokenSerializer

    def create(self, request, *args, **kwargs):
        # A stolen token must not be able to outlive its own revocation by minting successors.
        if request.auth is not None:
            raise PermissionDenied(SESSION_NEEDED_TO_MINT)
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, secret = api_call(services.api_token_create, actor=request.user, request=request, **body.validated_data)
        token.token = secret
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        token = get_object_or_404(self.get_queryset(), uuid=kwargs["id"])
        api_call(
            services.api_token_revoke,
            actor=request.user,
            token=token,
            reason="revoked through the API",
            request=request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# The one /api/v1/ router (agentiam.api.urls imports this module to have these registered).
router.register("people", PersonViewSet, basename="person")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("", MeViewSet, basename="profile")  # /api/v1/me/

# The registry's endpoints (identities/api_registry) register themselves on the same router.
import identities.api_registry  # noqa: E402, F401
