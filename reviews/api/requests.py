"""/api/v1/elevation-requests/: ask for JIT access for one task, see requests, and decide them.

Reads start from reviews.selectors.requests_visible_to (a request the caller may not see is a 404); every
write goes through reviews.services, which decide who may (separation of duties, routing) and answer a
refusal in the API's error shape: 400 naming the field, 403 with the reason, 409 for the request's state."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.schema import ErrorSerializer
from agentiam.errors import invalid
from agentiam.permissions import ALL_ROLES, RolePermission
from identities.models import Task
from reviews import selectors, services
from reviews.models import Approval, ApprovalRule, ElevationRequest

from . import inputs
from .filters import ElevationRequestFilter
from .serializers import ElevationRequestSerializer

ERR_TASK = "No task with this id belongs to the identity."
CONFLICT = OpenApiResponse(
    ErrorSerializer, description="The request's or the identity's state refuses it (closed, expired, already held…)."
)
TAGS = ["elevation"]


def with_details(queryset):
    approvals = Approval.objects.select_related("approver", "on_behalf_of").order_by("decided_at", "pk")
    return queryset.select_related(
        "identity", "task", "requested_by", "requested_by_identity", "grant"
    ).prefetch_related(Prefetch("approvals", approvals))


def task_of(identity, given: str) -> Task | str:
    """The task a request names: its id (a task of this identity) or a name (opened when new)."""
    try:
        task_id = uuid.UUID(given)
    except ValueError:
        return given
    task = Task.objects.filter(uuid=task_id, identity=identity).first()
    if task is None:
        raise invalid("task", ERR_TASK)
    return task


class ApproverPermission(RolePermission):
    """Every role, and a person without one who is in an approval rule's approver group: reviews.rules lets a
    member of the request's approver group decide whatever their roles (`may_decide`). Which requests they see
    is the queryset's to say (reviews.visibility: pending ones of their group), and whether they may approve,
    deny, ask or withdraw the services' — a no-role member who may not gets a 403 with the reason."""

    def has_permission(self, request, view) -> bool:
        if super().has_permission(request, view):
            return True
        user = request.user
        if not user or not user.is_authenticated or not user.is_active:
            return False
        return ApprovalRule.objects.filter(approver_group__in=user.groups.all()).exists()


@extend_schema_view(
    list=extend_schema(summary="List the elevation requests you may see", tags=TAGS),
    retrieve=extend_schema(summary="One elevation request: its state, who decided, what was granted", tags=TAGS),
)
class ElevationRequestViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """JIT elevation: an owner asks for scopes on one task; the routed approver (the owner's manager, their
    delegate, a manager above, or the rule's approver group) approves — possibly less — or denies; the grant
    ends at its expiry, with its task, or early."""

    permission_classes = [ApproverPermission]
    read_roles = ALL_ROLES
    write_roles = ALL_ROLES  # who may is the services' to decide, on the request itself
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = ElevationRequestSerializer
    filterset_class = ElevationRequestFilter

    def get_queryset(self):
        return with_details(selectors.requests_visible_to(self.request.user))

    def _answer(self, found: ElevationRequest, code=status.HTTP_200_OK) -> Response:
        fresh = with_details(ElevationRequest.objects.all()).get(pk=found.pk)
        return Response(ElevationRequestSerializer(fresh).data, status=code)

    def _body(self, serializer) -> dict:
        given = serializer(data=self.request.data, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        return dict(given.validated_data)

    @extend_schema(
        summary="Ask for JIT elevation for one task",
        tags=TAGS,
        request=inputs.RequestCreateSerializer,
        responses={
            201: ElevationRequestSerializer,
            200: OpenApiResponse(ElevationRequestSerializer, description="Merged into the same pending request."),
            409: CONFLICT,
        },
        description=(
            "Checked on arrival: the acceptable-use record, what is held already (409 saying so, nothing "
            "written), the identity's state and the approval rule's cap on the duration. A pending request for "
            "the same identity, task, scopes and scope is answered instead of a new one (200)."
        ),
    )
    def create(self, request):
        body = self._body(inputs.RequestCreateSerializer)
        body["task"] = task_of(body["identity"], body["task"])
        started: datetime = timezone.now()
        made = services.request_create(actor=request.user, request=request, **body)
        merged = made.created_at < started
        return self._answer(made, status.HTTP_200_OK if merged else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve (possibly less than asked: shorter, fewer scopes, a narrower scope object)",
        tags=TAGS,
        request=inputs.ApproveSerializer,
        responses={200: ElevationRequestSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, id=None):
        found = self.get_object()
        body = self._body(inputs.ApproveSerializer)
        services.request_approve(elevation_request=found, actor=request.user, request=request, **body)
        return self._answer(found)

    @extend_schema(
        summary="Deny (final)",
        tags=TAGS,
        request=inputs.CommentSerializer,
        responses={200: ElevationRequestSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def deny(self, request, id=None):
        found = self.get_object()
        body = self._body(inputs.CommentSerializer)
        services.request_deny(elevation_request=found, actor=request.user, request=request, **body)
        return self._answer(found)

    @extend_schema(
        summary="Withdraw a pending request you made",
        tags=TAGS,
        request=inputs.WithdrawSerializer,
        responses={200: ElevationRequestSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, id=None):
        found = self.get_object()
        body = self._body(inputs.WithdrawSerializer)
        services.request_withdraw(elevation_request=found, actor=request.user, request=request, **body)
        return self._answer(found)

    @extend_schema(
        summary="End the grant early (an owner, an approver of it, a security analyst): its tokens end too",
        tags=TAGS,
        request=inputs.EndSerializer,
        responses={200: ElevationRequestSerializer, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def end(self, request, id=None):
        found = self.get_object()
        body = self._body(inputs.EndSerializer)
        services.request_grant_end(elevation_request=found, actor=request.user, request=request, **body)
        return self._answer(found)
