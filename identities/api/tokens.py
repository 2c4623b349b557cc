"""/api/v1/tokens/: the signed-in person's own personal API tokens."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from agentiam.adapters import api_call
from identities import services
from identities.selectors import tokens_of

from .people import CreatedOrder
from .people_serializers import ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer

SESSION_NEEDED_TO_MINT = "API tokens are created in a signed-in browser session, not with another token."


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
