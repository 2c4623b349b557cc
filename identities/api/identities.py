"""/api/v1/identities/, identifiers/, ownerships/, acceptable-use/ and workflows/: reads start from what the
caller may see (others are 404), writes go through the same services as the browser."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.permissions import Role
from agentiam.stepup import step_up_required
from identities import services
from identities.models import AcceptableUse, Identifier, Identity, Ownership, Workflow
from identities.models.registry import current_ownerships
from identities.rules import CHANGERS, SUSPENDERS
from identities.runtime.services import ending

from . import inputs
from .access_serializers import WorkflowSerializer
from .base import RegistryViewSet, scoped, visible_identities
from .filters import AcceptableUseFilter, IdentifierFilter, IdentityApiFilter, OwnershipFilter, WorkflowFilter
from .serializers import (
    AcceptableUseSerializer,
    IdentifierSerializer,
    IdentityDetailSerializer,
    IdentitySerializer,
    OwnershipSerializer,
)

STEP_UP_NOTE = (
    "An administrator or security analyst who does not own the identity, in a browser session stepped up "
    "within the last few minutes. An API token always gets 403 with error `step_up_required`."
)

SuspendAnswer = inline_serializer(
    "SuspendAnswer",
    {
        "identity": IdentityDetailSerializer(),
        "ended": serializers.DictField(child=serializers.IntegerField(), help_text="What the suspension ended."),
    },
)


def _owners():
    return current_ownerships().select_related("person__profile")


@extend_schema_view(
    list=extend_schema(summary="List identities", tags=["registry"]),
    retrieve=extend_schema(summary="One identity: risk and why, owners, identifiers", tags=["registry"]),
    create=extend_schema(
        summary="Register an identity",
        tags=["registry"],
        request=inputs.IdentityCreateSerializer,
        responses={201: IdentityDetailSerializer},
    ),
    partial_update=extend_schema(
        summary="Change an identity's description, environment, capabilities…",
        tags=["registry"],
        request=inputs.IdentityUpdateSerializer,
        responses={200: IdentityDetailSerializer},
    ),
)
class IdentityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Agents, service accounts and people as governed identities. Everyone with a role reads the part of
    the registry they may see; owners and administrators register and change identities (by the ownership
    rules); owners, administrators and security analysts suspend them."""

    write_roles = SUSPENDERS
    filterset_class = IdentityApiFilter

    def get_queryset(self):
        queryset = Identity.objects.restrict(self.request.user, "view")
        if self.action == "list":
            accountable = _owners().filter(role="accountable")
            return queryset.prefetch_related(Prefetch("ownerships", accountable, to_attr="current_accountable"))
        return queryset.select_related("parent", "person__profile", "tier_override_by").prefetch_related(
            Prefetch("ownerships", _owners(), to_attr="current_owners"), "identifiers", "workflows"
        )

    def get_serializer_class(self):
        return IdentitySerializer if self.action == "list" else IdentityDetailSerializer

    def _detail(self, identity, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=identity.pk)
        return Response(IdentityDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    def create(self, request):
        identity = self.run(inputs.IdentityCreateSerializer, services.identity_create)
        return self._detail(identity, status.HTTP_201_CREATED)

    def partial_update(self, request, id=None):
        identity = self.get_object()
        self.run(inputs.IdentityUpdateSerializer, services.identity_update, identity=identity, partial=True)
        return self._detail(identity)

    @extend_schema(
        summary="Suspend now (kill switch)",
        tags=["registry"],
        request=inputs.ReasonSerializer,
        responses={200: SuspendAnswer},
        description="Ends JIT entitlements and grants, closes tasks and requests credential revocation, at once.",
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request, id=None):
        identity = self.get_object()
        ended = self.run(inputs.ReasonSerializer, ending.identity_suspend, identity=identity)
        fresh = self.get_queryset().get(pk=identity.pk)
        return Response({"identity": IdentityDetailSerializer(fresh).data, "ended": ended})

    @extend_schema(
        summary="Resume a suspended identity",
        tags=["registry"],
        request=inputs.ReasonSerializer,
        responses={200: IdentityDetailSerializer},
        description=STEP_UP_NOTE,
    )
    @action(detail=True, methods=["post"])
    @step_up_required
    def resume(self, request, id=None):
        identity = self.get_object()
        self.run(inputs.ReasonSerializer, services.identity_resume, identity=identity)
        return self._detail(identity)

    @extend_schema(
        summary="Override the risk tier (or clear the override with tier null)",
        tags=["registry"],
        request=inputs.TierOverrideSerializer,
        responses={200: IdentityDetailSerializer},
        description="An administrator who does not own the identity; the derived tier stays visible.",
    )
    @action(detail=True, methods=["post"], url_path="tier-override", url_name="tier-override")
    def tier_override(self, request, id=None):
        identity = self.get_object()
        body = inputs.TierOverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tier, reason = body.validated_data["tier"], body.validated_data["reason"]
        if tier is None:
            services.tier_override_clear(identity=identity, actor=request.user, reason=reason, request=request)
        else:
            services.tier_override_set(identity=identity, actor=request.user, tier=tier, reason=reason, request=request)
        return self._detail(identity)


@extend_schema_view(
    list=extend_schema(summary="List identifiers", tags=["registry"]),
    retrieve=extend_schema(summary="One identifier", tags=["registry"]),
    create=extend_schema(
        summary="Add an identifier (SPIFFE ID, OIDC subject, agent id, service name)",
        tags=["registry"],
        request=inputs.IdentifierCreateSerializer,
        responses={201: IdentifierSerializer},
    ),
    destroy=extend_schema(summary="Remove an identifier", tags=["registry"], responses={204: None}),
)
class IdentifierViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """The unique names an identity is known by. Its owners and administrators add and remove them."""

    serializer_class = IdentifierSerializer
    filterset_class = IdentifierFilter

    def get_queryset(self):
        return scoped(Identifier.objects.select_related("identity", "workflow"), self.request.user)

    def create(self, request):
        identifier = self.run(inputs.IdentifierCreateSerializer, services.identifier_add)
        return Response(IdentifierSerializer(identifier).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, id=None):
        services.identifier_remove(identifier=self.get_object(), actor=request.user, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List ownerships (current and past)", tags=["registry"]),
    retrieve=extend_schema(summary="One ownership", tags=["registry"]),
    create=extend_schema(
        summary="Name an owner (a new accountable owner replaces the current one)",
        tags=["registry"],
        request=inputs.OwnershipCreateSerializer,
        responses={201: OwnershipSerializer},
    ),
)
class OwnershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Who owned an identity, in which role, from when to when."""

    serializer_class = OwnershipSerializer
    filterset_class = OwnershipFilter

    def get_queryset(self):
        queryset = Ownership.objects.select_related("identity", "person__profile", "assigned_by", "ended_by")
        return scoped(queryset, self.request.user)

    def create(self, request):
        ownership = self.run(inputs.OwnershipCreateSerializer, services.ownership_assign)
        return Response(OwnershipSerializer(self.get_queryset().get(pk=ownership.pk)).data, status=201)

    @extend_schema(summary="End an ownership", tags=["registry"], request=inputs.ReasonSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, id=None):
        ownership = self.get_object()
        self.run(inputs.ReasonSerializer, services.ownership_end, ownership=ownership)
        return Response(OwnershipSerializer(self.get_queryset().get(pk=ownership.pk)).data)

    @extend_schema(
        summary="Transfer accountable ownership of many identities at once",
        tags=["registry"],
        request=inputs.TransferSerializer,
        responses={200: inline_serializer("TransferAnswer", {"transferred": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"])
    def transfer(self, request):
        body = inputs.TransferSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        data = body.validated_data
        moved = services.ownership_transfer_bulk(
            identities=data["identities"],
            to_person=data["to"],
            actor=request.user,
            reason=data["reason"],
            request=request,
        )
        return Response({"transferred": moved})


@extend_schema_view(
    list=extend_schema(summary="List acceptable-use records (every version)", tags=["registry"]),
    retrieve=extend_schema(summary="One version of an acceptable-use record", tags=["registry"]),
    create=extend_schema(
        summary="Add a version (approved by you, a current accountable owner)",
        tags=["registry"],
        request=inputs.AcceptableUseCreateSerializer,
        responses={201: AcceptableUseSerializer},
    ),
)
class AcceptableUseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Versioned statements of what an identity is for; a new version never rewrites an old one."""

    serializer_class = AcceptableUseSerializer
    filterset_class = AcceptableUseFilter
    write_roles = frozenset({Role.IDENTITY_OWNER})

    def get_queryset(self):
        return scoped(AcceptableUse.objects.select_related("identity", "approved_by"), self.request.user)

    def create(self, request):
        record = self.run(inputs.AcceptableUseCreateSerializer, services.aup_add_version)
        return Response(AcceptableUseSerializer(record).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List workflows", tags=["registry"]),
    retrieve=extend_schema(summary="One workflow and the identities serving it", tags=["registry"]),
)
class WorkflowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Workflows and the identities that serve them (an identity serving several is flagged fan-out)."""

    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilter
    write_roles = CHANGERS

    def get_queryset(self):
        if self.action == "attach":
            return Workflow.objects.all()  # any workflow may gain an identity its owner may change
        return self.readable()

    def readable(self):
        visible = visible_identities(self.request.user)
        queryset = Workflow.objects.all()
        if visible is None:
            return queryset.prefetch_related(Prefetch("identities", Identity.objects.only("uuid")))
        through = Workflow.identities.through
        serving = through.objects.filter(workflow=OuterRef("pk"), identity__in=visible.values("pk"))
        return queryset.filter(Exists(serving)).prefetch_related(Prefetch("identities", visible.only("uuid")))

    @extend_schema(
        summary="Attach an identity to this workflow",
        tags=["registry"],
        request=inputs.WorkflowAttachSerializer,
        responses={200: WorkflowSerializer},
    )
    @action(detail=True, methods=["post"])
    def attach(self, request, id=None):
        workflow = self.get_object()
        self.run(inputs.WorkflowAttachSerializer, services.workflow_attach, workflow=workflow)
        return Response(WorkflowSerializer(self.readable().get(pk=workflow.pk)).data)
