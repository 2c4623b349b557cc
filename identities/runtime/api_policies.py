"""/api/v1/policies/…: policy versions over the API, through the same services as the pages. The
see-everything roles read, validate and simulate; administrators draft and edit; activation needs a
browser session's step-up, so an API token always gets 403 `step_up_required`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.routers import router
from agentiam.permissions import RolePermission
from agentiam.stepup import step_up_required
from identities.runtime.models import PolicyVersion
from identities.runtime.roles import POLICY_READERS, POLICY_WRITERS
from identities.runtime.services import policies as services


class PolicyVersionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    activated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    digest = serializers.SerializerMethodField(help_text="What activation must name: SHA-256 of text, schema, cases.")

    class Meta:
        model = PolicyVersion
        fields = ["id", "number", "status", "summary", "policy_text", "schema_text", "test_cases", "parent", "author",
                  "created_at", "activated_by", "activated_at", "retired_at", "digest"]  # fmt: skip
        read_only_fields = fields

    def get_digest(self, version: PolicyVersion) -> str:
        return services.policy_digest(version)


class ActivateSerializer(serializers.Serializer):
    digest = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="",
        help_text="The `digest` of the version as reviewed; a draft changed since is refused (409).",
    )  # fmt: skip


class DraftCreateSerializer(serializers.Serializer):
    parent = serializers.SlugRelatedField(slug_field="uuid", queryset=PolicyVersion.objects.all())
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DraftUpdateSerializer(serializers.Serializer):
    policy_text = serializers.CharField(trim_whitespace=False)
    test_cases = serializers.ListField(child=serializers.JSONField(), allow_empty=True)
    summary = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class FlipSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    decided_at = serializers.DateTimeField()
    identity = serializers.UUIDField(allow_null=True)
    tool = serializers.CharField()
    action = serializers.CharField()
    before = serializers.ChoiceField(choices=["allow", "deny"])
    after = serializers.ChoiceField(choices=["allow", "deny"])
    reasons = serializers.ListField(child=serializers.CharField())


class SimulationSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    replayed = serializers.IntegerField()
    limited = serializers.BooleanField()
    flips = FlipSerializer(many=True)


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())


@extend_schema_view(
    list=extend_schema(summary="List policy versions", tags=["policies"]),
    retrieve=extend_schema(summary="One policy version", tags=["policies"]),
)
class PolicyVersionViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Cedar policy versions: drafts, the active version and retired ones."""

    permission_classes = [RolePermission]
    read_roles = POLICY_READERS
    write_roles = POLICY_WRITERS
    serializer_class = PolicyVersionSerializer
    queryset = PolicyVersion.objects.select_related("parent", "author", "activated_by").order_by("-number")
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    filter_backends = []

    @extend_schema(summary="Start a draft from a version", tags=["policies"], request=DraftCreateSerializer,
                   responses={201: PolicyVersionSerializer})  # fmt: skip
    def create(self, request):
        body = DraftCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        draft = services.policy_draft_create(actor=request.user, request=request, **body.validated_data)
        return Response(PolicyVersionSerializer(draft).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a draft", tags=["policies"], request=DraftUpdateSerializer,
                   responses={200: PolicyVersionSerializer})  # fmt: skip
    def update(self, request, id=None):
        body = DraftUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.policy_draft_update(actor=request.user, version=self.get_object(), request=request,
                                               **body.validated_data)  # fmt: skip
        return Response(PolicyVersionSerializer(version).data)

    @extend_schema(summary="Validate (schema and every test case)", tags=["policies"],
                   responses={200: ValidationResultSerializer})  # fmt: skip
    @action(detail=True, methods=["get"])
    def validate(self, request, id=None):
        errors = services.policy_validate(version=self.get_object())
        return Response({"valid": not errors, "errors": errors})

    @extend_schema(summary="Replay recorded decisions; the calls that would flip", tags=["policies"],
                   parameters=[OpenApiParameter("days", int, description="1 to 90 (default 7)")],
                   responses={200: SimulationSerializer})  # fmt: skip
    @action(detail=True, methods=["get"])
    def simulate(self, request, id=None):
        try:
            days = int(request.query_params.get("days", 7))
        except ValueError:
            raise ValidationError({"days": [services.ERR_DAYS]}) from None
        simulation = services.policy_simulate(version=self.get_object(), days=days)
        flips = [
            {"decision_id": str(f.decision.uuid), "decided_at": f.decision.decided_at,
             "identity": str(f.decision.identity.uuid) if f.decision.identity else None,
             "tool": f.decision.tool_key, "action": f.decision.action,
             "before": f.decision.decision, "after": "allow" if f.now_allow else "deny", "reasons": f.reasons}
            for f in simulation.flips
        ]  # fmt: skip
        return Response({"days": days, "replayed": simulation.replayed, "limited": simulation.limited, "flips": flips})

    @extend_schema(summary="Activate a draft (a second administrator who did not write or edit it; browser step-up)",
                   tags=["policies"], request=ActivateSerializer, responses={200: PolicyVersionSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    @step_up_required
    def activate(self, request, id=None):
        given = ActivateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        version = services.policy_activate(
            actor=request.user, version=self.get_object(), digest=given.validated_data["digest"], request=request
        )
        return Response(PolicyVersionSerializer(version).data)


router.register("policies", PolicyVersionViewSet, basename="policy")
