"""/api/v1/campaigns/ (definitions: list, read, create, change, archive, preview, launch) and
/api/v1/campaign-runs/ (a launch's progress and its completeness evidence).

Every reading role sees campaigns (read-only); compliance officers define and launch them. The serializers only
parse and shape input; reviews.services.campaigns decides, and its refusals answer 400 naming the field, 403
with the reason or 409 for the campaign's state, writing nothing."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.schema import ErrorSerializer
from agentiam.permissions import ROLE_VALUES, SEE_EVERYTHING, Role, RolePermission
from identities.models import Action, Environment, IdentityKind, RiskTier, System, Tool
from reviews.api.campaign_filters import CampaignFilter, CampaignRunFilter
from reviews.models import Campaign, CampaignRun, CampaignStage
from reviews.models_campaigns import (
    CommentRule,
    IndependentReviewer,
    NoAnswerOutcome,
    Recurrence,
    ReviewerRule,
    StageSelects,
)
from reviews.services import campaigns as services
from reviews.services.campaigns import MAX_DESCRIPTION, MAX_LIST, MAX_NAME

TAGS = ["campaigns"]
CONFLICT = OpenApiResponse(ErrorSerializer, description="The campaign is archived, or a run is launching already.")
WRITERS = frozenset({Role.COMPLIANCE_OFFICER})


def _choices(values, **kwargs):
    return serializers.ListField(child=serializers.ChoiceField(choices=values), max_length=MAX_LIST, **kwargs)


def _by_uuid(queryset, **kwargs):
    return serializers.SlugRelatedField(slug_field="uuid", queryset=queryset, many=True, **kwargs)


class StageInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, allow_blank=True, required=False, default="")
    reviewer_rule = serializers.ChoiceField(choices=ReviewerRule.choices, required=False)
    selects = serializers.ChoiceField(choices=StageSelects.choices, required=False)
    duration_days = serializers.IntegerField(min_value=1, max_value=365, required=False, default=14)
    no_answer_outcome = serializers.ChoiceField(choices=NoAnswerOutcome.choices, required=False, default="keep")


class CampaignInputSerializer(serializers.Serializer):
    """A definition. Scope fields are ANDed; an empty list means "any"."""

    name = serializers.CharField(max_length=MAX_NAME)
    description = serializers.CharField(max_length=MAX_DESCRIPTION, allow_blank=True, required=False)
    identity_kinds = _choices(IdentityKind.choices, required=False)
    risk_tiers = _choices(RiskTier.choices, required=False)
    environments = _choices(Environment.choices, required=False)
    sensitivities = _choices(RiskTier.choices, required=False, help_text="Tool sensitivity.")
    actions = _choices(Action.choices, required=False)
    systems = _by_uuid(System.objects.all(), required=False)
    tools = _by_uuid(Tool.objects.all(), required=False)
    owners = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), many=True, required=False,
        help_text="Accountable owners (usernames) whose identities are in scope.",
    )  # fmt: skip
    standing_only = serializers.BooleanField(required=False)
    unused_days = serializers.IntegerField(min_value=1, max_value=3650, allow_null=True, required=False,
                                           help_text="Only entitlements unused for this many days.")  # fmt: skip
    outside_acceptable_use = serializers.BooleanField(required=False)
    include_entitlements = serializers.BooleanField(required=False)
    privileged_roles = _choices(ROLE_VALUES, required=False, help_text="AgentIAM roles whose holders are reviewed too.")
    reviewer_rule = serializers.ChoiceField(choices=ReviewerRule.choices, required=False)
    fallback_group = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), allow_null=True, required=False
    )
    independent_reviewer = serializers.ChoiceField(choices=IndependentReviewer.choices, required=False)
    reminder_days = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=365), max_length=10,
                                          required=False, help_text="Days before the deadline.")  # fmt: skip
    escalate_after_days = serializers.IntegerField(min_value=1, max_value=365, allow_null=True, required=False)
    comment_required = serializers.ChoiceField(choices=CommentRule.choices, required=False)
    recurrence = serializers.ChoiceField(choices=Recurrence.choices, required=False)
    cron = serializers.CharField(max_length=100, allow_blank=True, required=False, help_text="e.g. 0 6 1 */3 *")
    timezone = serializers.CharField(max_length=64, required=False)
    stages = StageInputSerializer(many=True, required=False, max_length=3, min_length=1)


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignStage
        fields = ["number", "name", "reviewer_rule", "selects", "duration_days", "no_answer_outcome"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    campaign = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    launched_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    signed_off_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = CampaignRun
        fields = ["id", "campaign", "number", "state", "launched_by", "launched_at", "extracted_at", "total",
                  "processed", "progress_percent", "counts", "item_digest", "opened_at", "stage", "due_at",
                  "signed_off_by", "signed_off_at"]  # fmt: skip
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "definition", "scope", "scope_sql"]
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    systems = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    tools = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    owners = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    fallback_group = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    stages = StageSerializer(many=True, read_only=True)
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["id", "name", "description", "identity_kinds", "risk_tiers", "environments", "sensitivities",
                  "actions", "systems", "tools", "owners", "standing_only", "unused_days", "outside_acceptable_use",
                  "include_entitlements", "privileged_roles", "reviewer_rule", "fallback_group",
                  "independent_reviewer", "stages", "reminder_days", "escalate_after_days", "comment_required",
                  "recurrence", "cron", "timezone", "created_by", "created_at", "updated_at", "archived_at",
                  "last_run"]  # fmt: skip
        read_only_fields = fields

    def get_last_run(self, campaign) -> dict | None:
        runs = getattr(campaign, "recent_runs", None)
        run = runs[0] if runs else None
        return RunSerializer(run).data if run else None


Preview = inline_serializer(
    "CampaignPreview",
    {
        "items": serializers.IntegerField(),
        "flagged": serializers.IntegerField(help_text="Items recommended for revoke."),
        "keep": serializers.IntegerField(),
        "unrouted": serializers.IntegerField(help_text="Items nobody eligible could be found for."),
        "reviewers": serializers.IntegerField(),
        "heaviest": serializers.ListField(child=serializers.DictField(), help_text="reviewer, items, flagged"),
    },
)


def campaigns_read():
    recent = CampaignRun.objects.select_related("launched_by", "signed_off_by", "campaign").order_by("-number")
    return Campaign.objects.select_related("created_by", "fallback_group").prefetch_related(
        "systems", "tools", "owners", "stages", Prefetch("runs", recent, to_attr="recent_runs")
    )


def preview_json(figures: dict) -> dict:
    people = dict(get_user_model().objects.filter(pk__in=[r for r, _, _ in figures["heaviest"]]).values_list(
        "pk", "username"))  # fmt: skip
    heaviest = [{"reviewer": people.get(r), "items": n, "flagged": f} for r, n, f in figures["heaviest"]]
    return {**figures, "heaviest": heaviest}


@extend_schema_view(
    list=extend_schema(summary="List review campaigns", tags=TAGS),
    retrieve=extend_schema(summary="One campaign definition and its latest run", tags=TAGS),
)
class CampaignViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Access-certification campaigns: what is reviewed, by whom, for how long, what happens when nobody
    answers, and how often. Every reading role sees them; compliance officers define and launch them."""

    permission_classes = [RolePermission]
    read_roles = SEE_EVERYTHING
    write_roles = WRITERS
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_queryset(self):
        return campaigns_read()

    def _answer(self, campaign, code=status.HTTP_200_OK) -> Response:
        return Response(CampaignSerializer(campaigns_read().get(pk=campaign.pk)).data, status=code)

    def _body(self, partial: bool = False) -> dict:
        given = CampaignInputSerializer(data=self.request.data, partial=partial, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        body = dict(given.validated_data)
        if "stages" in body:
            body["stages"] = [dict(stage) for stage in body["stages"]]
        return body

    @extend_schema(summary="Define a campaign", tags=TAGS, request=CampaignInputSerializer,
                   responses={201: CampaignSerializer})  # fmt: skip
    def create(self, request):
        made = services.campaign_create(actor=request.user, request=request, **self._body())
        return self._answer(made, status.HTTP_201_CREATED)

    @extend_schema(summary="Change a campaign's definition (runs launched keep theirs)", tags=TAGS,
                   request=CampaignInputSerializer, responses={200: CampaignSerializer, 409: CONFLICT})  # fmt: skip
    def partial_update(self, request, id=None):
        found = self.get_object()
        services.campaign_update(campaign=found, actor=request.user, request=request, **self._body(partial=True))
        return self._answer(found)

    @extend_schema(summary="Archive: no more launches", tags=TAGS, request=None,
                   responses={200: CampaignSerializer, 409: CONFLICT})  # fmt: skip
    @action(detail=True, methods=["post"])
    def archive(self, request, id=None):
        found = self.get_object()
        services.campaign_archive(campaign=found, actor=request.user, request=request)
        return self._answer(found)

    @extend_schema(summary="What a launch now would create: items, reviewers, flagged, the heaviest reviewers",
                   tags=TAGS, responses={200: Preview})  # fmt: skip
    @action(detail=True, methods=["get"])
    def preview(self, request, id=None):
        return Response(preview_json(services.campaign_preview(campaign=self.get_object())))

    @extend_schema(
        summary="Launch a run: the worker snapshots the entitlements in scope into review items",
        tags=TAGS, request=None, responses={202: RunSerializer, 409: CONFLICT},
        description="Answers at once with the run (state `launching`); poll /api/v1/campaign-runs/{id} for progress.",
    )  # fmt: skip
    @action(detail=True, methods=["post"])
    def launch(self, request, id=None):
        run = services.campaign_launch(campaign=self.get_object(), actor=request.user, request=request)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List campaign runs", tags=TAGS),
    retrieve=extend_schema(summary="One run: progress, the frozen definition and the completeness evidence", tags=TAGS),
)
class CampaignRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = SEE_EVERYTHING
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    filterset_class = CampaignRunFilter

    def get_queryset(self):
        queryset = CampaignRun.objects.select_related("campaign", "launched_by", "signed_off_by")
        if self.action == "list":
            return queryset.defer("definition", "scope", "scope_sql", "report")
        return queryset

    def get_serializer_class(self):
        return RunSerializer if self.action == "list" else RunDetailSerializer
