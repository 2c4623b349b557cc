"""/api/v1/approval-rules/, /api/v1/approval-rule-changes/ and /api/v1/delegations/: the same services as the
pages. Every role reads the rules and their changes; administrators propose, withdraw and apply changes —
proposing and applying need a browser session's step-up, so an API token always gets 403 `step_up_required`
(product rule: approval-rule changes are never an API token's). Delegations are an approver's own (an
administrator's for any approver); reading them starts from the same visibility as the page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.pagination import CursorPagination
from agentiam.api.schema import ErrorSerializer
from agentiam.permissions import ALL_ROLES, Role, RolePermission
from agentiam.stepup import step_up_required
from reviews import selectors
from reviews.models import ApprovalRule, ApprovalRuleChange, ChangeKind, Delegation
from reviews.services.rule_changes import (
    delegation_create,
    delegation_revoke,
    rule_change_apply,
    rule_change_propose,
    rule_change_withdraw,
)

ADMINISTRATORS = frozenset({Role.ADMINISTRATOR})
CONFLICT = OpenApiResponse(ErrorSerializer, description="The proposal is closed, or the delegation is over.")
TAGS = ["approval rules"]


class ByNumber(CursorPagination):
    ordering = "priority"  # unique: the order rules are evaluated in


class ApprovalRuleSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    approver_group = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = ApprovalRule
        fields = ["id", "name", "priority", "enabled", "risk_tier", "tool_sensitivity", "data_class", "environment",
                  "action", "production_secrets", "auto_approve", "approvals_needed", "eligible_approvals",
                  "max_duration_seconds", "approver_group", "allows_break_glass", "created_at"]  # fmt: skip
        read_only_fields = fields


class ApprovalRuleChangeSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    rule = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ApprovalRuleChange
        fields = ["id", "kind", "rule", "fields", "reason", "state", "proposed_by", "proposed_at", "decided_by",
                  "decided_at"]  # fmt: skip
        read_only_fields = fields


class ProposeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    rule = serializers.SlugRelatedField(slug_field="uuid", queryset=ApprovalRule.objects.all(), required=False,
                                        allow_null=True, help_text="The rule to edit or disable (its id).")  # fmt: skip
    fields = serializers.DictField(required=False, default=dict,
                                   help_text="The rule's fields after the change (create, edit); only those changed "
                                   "for an edit. approver_group is a group's id.")  # fmt: skip
    reason = serializers.CharField(max_length=2000, help_text="Why; the second administrator reads it.")


class DelegationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)
    delegate = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Delegation
        fields = ["id", "approver", "delegate", "starts_at", "ends_at", "reason", "created_at", "revoked_at"]
        read_only_fields = fields


def _person(**kwargs):
    return serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.filter(is_active=True),
                                        **kwargs)  # fmt: skip


class DelegationCreateSerializer(serializers.Serializer):
    delegate = _person(help_text="Another active approver (username).")
    approver = _person(required=False, allow_null=True, help_text="Administrators only: the away approver.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


@extend_schema_view(
    list=extend_schema(summary="The approval rules, by number (lowest first)", tags=TAGS),
    retrieve=extend_schema(summary="One approval rule", tags=TAGS),
)
class ApprovalRuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Read-only: a rule changes only through a proposal a second administrator applies."""

    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = frozenset()
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = ApprovalRuleSerializer
    queryset = ApprovalRule.objects.select_related("approver_group")
    pagination_class = ByNumber


@extend_schema_view(
    list=extend_schema(summary="Approval-rule changes, newest first", tags=TAGS),
    retrieve=extend_schema(summary="One approval-rule change", tags=TAGS),
)
class ApprovalRuleChangeViewSet(
    ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = ADMINISTRATORS
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = ApprovalRuleChangeSerializer
    queryset = ApprovalRuleChange.objects.select_related("rule", "proposed_by", "decided_by")

    def _answer(self, change, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=change.pk)
        return Response(ApprovalRuleChangeSerializer(fresh).data, status=code)

    @extend_schema(summary="Propose a change (an administrator; browser step-up)", tags=TAGS,
                   request=ProposeSerializer, responses={201: ApprovalRuleChangeSerializer, 409: CONFLICT})  # fmt: skip
    @step_up_required
    def create(self, request):
        given = ProposeSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        change = rule_change_propose(actor=request.user, request=request, **given.validated_data)
        return self._answer(change, status.HTTP_201_CREATED)

    @extend_schema(summary="Apply a change (a second administrator, never its author; browser step-up)", tags=TAGS,
                   request=None, responses={200: ApprovalRuleChangeSerializer, 409: CONFLICT})  # fmt: skip
    @action(detail=True, methods=["post"])
    @step_up_required
    def apply(self, request, id=None):
        change = self.get_object()
        rule_change_apply(actor=request.user, change=change, request=request)
        return self._answer(change)

    @extend_schema(summary="Withdraw an open change (any administrator)", tags=TAGS, request=None,
                   responses={200: ApprovalRuleChangeSerializer, 409: CONFLICT})  # fmt: skip
    @action(detail=True, methods=["post"])
    def withdraw(self, request, id=None):
        change = self.get_object()
        rule_change_withdraw(actor=request.user, change=change, request=request)
        return self._answer(change)


@extend_schema_view(
    list=extend_schema(summary="Delegations you made or that were made to you (administrators: all)", tags=TAGS),
    retrieve=extend_schema(summary="One delegation", tags=TAGS),
)
class DelegationViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """An approver names a delegate for a period and revokes it; routing reads live ones at decision time."""

    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = ALL_ROLES  # who may is the service's to decide: an approver, or an administrator for any
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = DelegationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no person
            return Delegation.objects.none()
        return selectors.delegations_visible_to(self.request.user)

    @extend_schema(summary="Name a delegate for a period (an approver; an administrator for any approver)",
                   tags=TAGS, request=DelegationCreateSerializer, responses={201: DelegationSerializer})  # fmt: skip
    def create(self, request):
        given = DelegationCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        row = delegation_create(actor=request.user, request=request, **given.validated_data)
        return Response(DelegationSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke a delegation (the approver who made it, or an administrator)", tags=TAGS,
                   request=None, responses={200: DelegationSerializer, 409: CONFLICT})  # fmt: skip
    @action(detail=True, methods=["post"])
    def revoke(self, request, id=None):
        row = delegation_revoke(actor=request.user, delegation=self.get_object(), request=request)
        return Response(DelegationSerializer(row).data)
