"""/api/v1/systems/, tools/, entitlements/, exceptions/, credentials/ and tasks/.

Entitlements are immutable: there is no PUT, PATCH or DELETE (405). A changed scope or expiry is
`POST entitlements/{id}/replace` (the old one is revoked, a new one granted); taking access away is
`POST entitlements/{id}/revoke`."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from identities import services
from identities.filters import SystemFilter, ToolFilter
from identities.models import Credential, Entitlement, Identity, RiskException, System, Task, Tool
from identities.rules import ADMINISTRATORS, SUSPENDERS, Right
from identities.runtime.services import ending

from . import inputs
from .access_serializers import (
    CredentialSerializer,
    EntitlementSerializer,
    RiskExceptionSerializer,
    SystemSerializer,
    TaskSerializer,
    ToolSerializer,
)
from .base import RegistryViewSet, held_by_visible, scoped, visible_identities
from .filters import CredentialFilter, EntitlementApiFilter, RiskExceptionFilter, TaskFilter


@extend_schema_view(
    list=extend_schema(summary="List systems", tags=["registry"]),
    retrieve=extend_schema(summary="One system", tags=["registry"]),
    create=extend_schema(
        summary="Add a system",
        tags=["registry"],
        request=inputs.SystemCreateSerializer,
        responses={201: SystemSerializer},
    ),
)
class SystemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """MCP servers, SaaS, databases and cloud accounts that offer tools. Administrators add them."""

    queryset = System.objects.all()
    serializer_class = SystemSerializer
    filterset_class = SystemFilter
    write_roles = ADMINISTRATORS

    def create(self, request):
        system = self.run(inputs.SystemCreateSerializer, services.system_create)
        return Response(SystemSerializer(system).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List tools", tags=["registry"]),
    retrieve=extend_schema(summary="One tool", tags=["registry"]),
    create=extend_schema(
        summary="Add a tool to a system",
        tags=["registry"],
        request=inputs.ToolCreateSerializer,
        responses={201: ToolSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a tool (its risk flags change its holders' risk)",
        tags=["registry"],
        request=inputs.ToolUpdateSerializer,
        responses={200: ToolSerializer},
    ),
)
class ToolViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Callable things with a unique key, the actions they support and their sensitivity."""

    queryset = Tool.objects.select_related("system")
    serializer_class = ToolSerializer
    filterset_class = ToolFilter
    write_roles = ADMINISTRATORS

    def create(self, request):
        tool = self.run(inputs.ToolCreateSerializer, services.tool_create)
        return Response(ToolSerializer(tool).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, id=None):
        tool = self.get_object()
        tool = self.run(inputs.ToolUpdateSerializer, services.tool_update, tool=tool, partial=True)
        return Response(ToolSerializer(tool).data)


@extend_schema_view(
    list=extend_schema(summary="List entitlements", tags=["registry"]),
    retrieve=extend_schema(summary="One entitlement", tags=["registry"]),
    create=extend_schema(
        summary="Grant standing access",
        tags=["registry"],
        request=inputs.EntitlementCreateSerializer,
        responses={201: EntitlementSerializer},
        description=(
            "Owners grant standing read on identities they own; write, admin and execute need an administrator "
            "who does not own the identity, and on a high or critical identity an exception (exception_reason, "
            "exception_until) accepted in the same step."
        ),
    ),
)
class EntitlementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Identity, tool, action and scope. Immutable once granted: revoke, or replace with a new one."""

    serializer_class = EntitlementSerializer
    filterset_class = EntitlementApiFilter

    def get_queryset(self):
        queryset = Entitlement.objects.select_related("identity", "tool", "grant", "granted_by", "revoked_by")
        return scoped(queryset, self.request.user)

    def _answer(self, entitlement, code=status.HTTP_200_OK) -> Response:
        return Response(EntitlementSerializer(self.get_queryset().get(pk=entitlement.pk)).data, status=code)

    def create(self, request):
        entitlement = self.run(inputs.EntitlementCreateSerializer, services.entitlement_grant)
        return self._answer(entitlement, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke (credentials left with nothing to carry are revoked too)",
        tags=["registry"],
        request=inputs.ReasonSerializer,
        responses=EntitlementSerializer,
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, id=None):
        entitlement = self.run(inputs.ReasonSerializer, ending.entitlement_revoke, target="entitlement")
        return self._answer(entitlement)

    @extend_schema(
        summary="Replace: revoke this entitlement and grant a new one with another scope or expiry",
        tags=["registry"],
        request=inputs.EntitlementReplaceSerializer,
        responses={201: EntitlementSerializer},
    )
    @action(detail=True, methods=["post"])
    def replace(self, request, id=None):
        old = self.get_object()
        new = self.run(inputs.EntitlementReplaceSerializer, ending.entitlement_replace, entitlement=old)
        return self._answer(new, status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="List risk exceptions", tags=["registry"]),
    retrieve=extend_schema(summary="One risk exception", tags=["registry"]),
    create=extend_schema(
        summary="Accept the risk of a standing write/admin entitlement until a date",
        tags=["registry"],
        request=inputs.ExceptionCreateSerializer,
        responses={201: RiskExceptionSerializer},
    ),
)
class ExceptionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Accepted risk for standing write/admin access on high or critical identities, by an administrator
    who does not own the identity, always with an end date."""

    serializer_class = RiskExceptionSerializer
    filterset_class = RiskExceptionFilter
    write_roles = ADMINISTRATORS

    def get_queryset(self):
        queryset = RiskException.objects.select_related("entitlement__identity", "accepted_by", "revoked_by")
        return scoped(queryset, self.request.user, "entitlement__identity")

    def create(self, request):
        exception = self.run(inputs.ExceptionCreateSerializer, services.exception_accept)
        return Response(RiskExceptionSerializer(self.get_queryset().get(pk=exception.pk)).data, status=201)


@extend_schema_view(
    list=extend_schema(summary="List credentials", tags=["registry"]),
    retrieve=extend_schema(summary="One credential (its fingerprint, never the secret)", tags=["registry"]),
    create=extend_schema(
        summary="Register a credential by fingerprint",
        tags=["registry"],
        request=inputs.CredentialCreateSerializer,
        responses={201: CredentialSerializer},
    ),
)
class CredentialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Secrets and tokens identities present, with the entitlements they carry and their revocation state."""

    serializer_class = CredentialSerializer
    filterset_class = CredentialFilter

    def get_queryset(self):
        user = self.request.user
        visible = visible_identities(user)
        holders = (visible if visible is not None else Identity.objects.all()).only("uuid")
        entitlements = scoped(Entitlement.objects.only("uuid", "identity_id"), user)
        return held_by_visible(Credential.objects.all(), user).prefetch_related(
            Prefetch("holders", holders), Prefetch("entitlements", entitlements)
        )

    def _answer(self, credential, code=status.HTTP_200_OK) -> Response:
        return Response(CredentialSerializer(self.get_queryset().get(pk=credential.pk)).data, status=code)

    def create(self, request):
        credential = self.run(inputs.CredentialCreateSerializer, services.credential_register)
        return self._answer(credential, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Request revocation (the holder of the secret must confirm it)",
        tags=["registry"],
        request=inputs.ReasonSerializer,
        responses=CredentialSerializer,
    )
    @action(detail=True, methods=["post"], url_path="request-revocation", url_name="request-revocation")
    def request_revocation(self, request, id=None):
        credential = self.run(inputs.ReasonSerializer, services.credential_request_revocation, target="credential")
        return self._answer(credential)

    @extend_schema(
        summary="Record whether a requested revocation was confirmed or failed",
        tags=["registry"],
        request=inputs.CredentialResolveSerializer,
        responses=CredentialSerializer,
    )
    @action(detail=True, methods=["post"], url_path="resolve-revocation", url_name="resolve-revocation")
    def resolve_revocation(self, request, id=None):
        credential = self.run(
            inputs.CredentialResolveSerializer, services.credential_resolve_revocation, target="credential"
        )
        return self._answer(credential)


@extend_schema_view(
    list=extend_schema(summary="List tasks", tags=["registry"]),
    retrieve=extend_schema(summary="One task", tags=["registry"]),
)
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    """Units of agent work. Tasks are opened by the runtime; completing one ends its grants and JIT access."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    write_roles = SUSPENDERS

    def get_queryset(self):
        return scoped(Task.objects.select_related("identity", "workflow", "completed_by"), self.request.user)

    @extend_schema(
        summary="Complete a task: its grants and JIT entitlements end",
        tags=["registry"],
        request=inputs.TaskCompleteSerializer,
        responses=TaskSerializer,
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, id=None):
        task = self.get_object()
        body = inputs.TaskCompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.require(Right.END_TASK, task.identity, request.user)
        # Through the runtime, so the task's access tokens are revoked in the same transaction.
        ending.task_end(task=task, actor=request.user, request=request, **body.validated_data)
        return Response(TaskSerializer(self.get_queryset().get(pk=task.pk)).data)
