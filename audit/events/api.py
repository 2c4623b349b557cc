"""/api/v1/events/ and /api/v1/chains/{trace_id}/: reading action events and chains, registered on the shared
router when agentiam.api.urls autodiscovers this module (ingest, `POST /api/v1/events`, is the lean view of
views/ingest.py on a path of its own).

Both read from audit.events.selectors, the chain page's rule: the roles that see everything read every event,
quarantined ones included (marked `quarantined` with the reason); everyone else the events of identities
`Identity.objects.restrict()` lets them view. Tool-call content is stored only where an administrator enabled
it and is shown to exactly those readers. A bad trace id (or filter) is a 400 naming the parameter.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.pagination import CursorPagination
from agentiam.api.routers import router
from agentiam.api.schema import ErrorSerializer
from agentiam.errors import invalid
from agentiam.permissions import ALL_ROLES, RolePermission
from audit.events.models import ActionEvent, Outcome, QuarantineReason, Source
from audit.events.reading import ERR_TRACE_ID, load_chain, valid_trace_id
from audit.events.selectors import events_visible_to

TAGS = ["events"]
ERR_NARROW = "Give trace_id (one chain) or identity (one identity's activity)."


class EventFilter(django_filters.FilterSet):
    trace_id = django_filters.CharFilter(method="by_trace", label="Trace id: 32 lower-case hex (one chain)")
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Identity (its id)")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    quarantined = django_filters.BooleanFilter(method="by_quarantine", label="Only quarantined (true) or not")
    tool = django_filters.CharFilter(field_name="tool_key", label="Tool key")
    action = django_filters.CharFilter(field_name="action")
    source = django_filters.ChoiceFilter(choices=Source.choices)
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = ActionEvent
        fields = [
            "trace_id", "identity", "outcome", "quarantined", "tool", "action", "source", "started_after",
            "started_before",
        ]  # fmt: skip

    def by_trace(self, queryset, name, value):
        if not valid_trace_id(value):
            raise invalid("trace_id", ERR_TRACE_ID)
        return queryset.filter(trace_id=value)

    def by_quarantine(self, queryset, name, value):
        return queryset.exclude(quarantine="") if value else queryset.filter(quarantine="")

    def filter_queryset(self, queryset):
        given = self.request.query_params if self.request is not None else {}
        if "trace_id" in given and not valid_trace_id(given.get("trace_id", "")):
            raise invalid("trace_id", ERR_TRACE_ID)  # before the form's own (blank) handling
        if not given.get("trace_id") and not given.get("identity"):
            raise invalid("trace_id", ERR_NARROW)
        return super().filter_queryset(queryset)


class EventOrder(CursorPagination):
    """A trace reads in the order its steps started; an identity's activity newest first. Both on the
    (identity, started_at) and (trace_id, started_at) indexes."""

    ordering = ("started_at", "id")

    def get_ordering(self, request, queryset, view):
        return ("started_at", "id") if request.query_params.get("trace_id") else ("-started_at", "-id")


class _Identity(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    name = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True, help_text="The event id (idempotency key).")
    sequence = serializers.IntegerField(source="pk", read_only=True, help_text="The ingest sequence.")
    identity = _Identity(read_only=True, allow_null=True)
    task = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    tool = serializers.CharField(source="tool_key", read_only=True)
    quarantined = serializers.SerializerMethodField()
    quarantine = serializers.ChoiceField(choices=QuarantineReason.choices, allow_blank=True, read_only=True)

    class Meta:
        model = ActionEvent
        fields = [
            "id", "sequence", "trace_id", "span_id", "parent_span_id", "folded_span_ids", "name", "operation",
            "identity", "task", "quarantined", "quarantine", "claimed", "started_at", "ended_at", "tool", "action",
            "resource", "decision_id", "outcome", "error_type", "attributes", "content", "source", "ingested_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_quarantined(self, event) -> bool:
        return bool(event.quarantine)


@extend_schema_view(
    list=extend_schema(
        summary="Action events of one trace (or one identity) that you may see",
        tags=TAGS,
        parameters=[OpenApiParameter("trace_id", OpenApiTypes.STR, description="32 lower-case hex")],
        responses={200: EventSerializer(many=True), 400: OpenApiResponse(ErrorSerializer)},
        description=ERR_NARROW + " Quarantined events are listed, marked, for the roles that see everything.",
    )
)
class EventViewSet(ServiceErrors, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = frozenset()
    serializer_class = EventSerializer
    filterset_class = EventFilter
    pagination_class = EventOrder

    def get_queryset(self):
        return events_visible_to(self.request.user).select_related("identity", "task")


class _Decision(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    decision = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Rule ids (and runtime checks).")
    decided_at = serializers.DateTimeField()


class ChainStepSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", help_text="The event's id, or the decision's for a gateway step.")
    kind = serializers.ChoiceField(choices=["event", "decision"], help_text="decision: a gateway step.")
    parent = serializers.SerializerMethodField(help_text="The id of the step this one sits under; null: a root.")
    span_id = serializers.CharField()
    parent_span_id = serializers.CharField()
    depth = serializers.IntegerField()
    name = serializers.CharField()
    operation = serializers.CharField()
    agent = serializers.SerializerMethodField()
    tool = serializers.CharField(source="tool_key")
    action = serializers.CharField()
    resource = serializers.JSONField()
    decision = _Decision(allow_null=True)
    outcome = serializers.CharField()
    error_type = serializers.CharField()
    quarantined = serializers.SerializerMethodField()
    quarantine = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)

    def get_parent(self, step) -> str | None:
        return str(step.parent_step.uuid) if step.parent_step is not None else None

    def get_agent(self, step) -> dict | None:
        return {"id": str(step.identity_uuid), "name": step.identity_name} if step.identity_uuid else None

    def get_quarantined(self, step) -> bool:
        return bool(step.quarantine)


class ChainSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    started_at = serializers.DateTimeField()
    depth = serializers.IntegerField()
    fan_out = serializers.IntegerField()
    capped = serializers.BooleanField(help_text="True when the trace has more steps than the 5,000 given.")
    agents = serializers.ListField(child=serializers.CharField())
    denied = serializers.IntegerField()
    errors = serializers.IntegerField()
    quarantined = serializers.IntegerField()
    steps = ChainStepSerializer(many=True, help_text="In the order they started.")


@extend_schema_view(
    retrieve=extend_schema(
        summary="One chain: the steps of a trace you may see, with their decisions, as a tree",
        tags=TAGS,
        parameters=[OpenApiParameter("trace_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="32 hex")],
        responses={
            200: ChainSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Not a trace id."),
            404: OpenApiResponse(description="Nothing of this trace is visible to you."),
        },
    )
)
class ChainViewSet(ServiceErrors, viewsets.GenericViewSet):
    permission_classes = [RolePermission]
    read_roles = ALL_ROLES
    write_roles = frozenset()
    serializer_class = ChainSerializer
    lookup_field = "trace_id"
    lookup_value_converter = "str"
    filter_backends = []
    pagination_class = None

    def retrieve(self, request, trace_id: str):
        if not valid_trace_id(trace_id):
            raise invalid("trace_id", ERR_TRACE_ID)
        chain = load_chain(request.user, trace_id)
        if chain is None:
            raise NotFound("Nothing of this trace is visible to you.")
        return Response(ChainSerializer(chain).data)


RESOURCES = [("events", EventViewSet, "event"), ("chains", ChainViewSet, "chain")]
for prefix, viewset, basename in RESOURCES:
    if not any(registered[0] == prefix for registered in router.registry):
        router.register(prefix, viewset, basename=basename)
