"""/api/v1/alerts/: the alerts a person may see (filters severity, state, rule, identity), one alert with its
events' ids and chain, triage (POST …/triage/ with `action` assign | acknowledge | resolve | suppress) and the
kill switch (POST …/suspend-identity/ with a reason). Writes go through audit.alerts.services: 400 naming the
field, 403 with the reason (not an analyst, your own identity), 409 for the alert's state."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from agentiam.adapters import ServiceErrors
from agentiam.api.routers import router
from agentiam.errors import invalid
from agentiam.permissions import RolePermission
from audit.alerts import services
from audit.alerts.forms import AlertFilter
from audit.alerts.models import Alert
from audit.alerts.selectors import READERS, alerts_visible_to

TAGS = ["alerts"]
ACTIONS = ("assign", "acknowledge", "resolve", "suppress")
ERR_ACTION = "One of: " + ", ".join(ACTIONS) + "."


class AlertSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = serializers.UUIDField(source="identity.uuid", read_only=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    assignee = serializers.CharField(source="assignee.username", read_only=True, allow_null=True, default=None)
    time_to_triage_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "rule", "severity", "state", "title", "reasons", "identity", "identity_name", "trace_id",
                  "scope", "event_ids", "first_event_at", "last_event_at", "raised_at", "assignee", "triaged_at",
                  "time_to_triage_seconds", "acknowledged_at", "resolved_at", "resolution", "suppressed_until",
                  "suppress_reason"]  # fmt: skip
        read_only_fields = fields

    def get_time_to_triage_seconds(self, alert) -> int | None:
        spent = alert.time_to_triage
        return round(spent.total_seconds()) if spent is not None else None


class TriageSerializer(serializers.Serializer):
    action = serializers.CharField()
    assignee = serializers.CharField(required=False, help_text="assign: the analyst's username")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    until = serializers.DateTimeField(required=False, help_text="suppress: until when")


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


@extend_schema_view(
    list=extend_schema(summary="List the alerts you may see", tags=TAGS),
    retrieve=extend_schema(summary="One alert: what was found, its events and chain, its triage", tags=TAGS),
)
class AlertViewSet(ServiceErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts raised by the behavioural detectors over action events."""

    permission_classes = [RolePermission]
    read_roles = READERS
    write_roles = READERS  # who may triage or suspend is the services' to say, on the alert itself
    lookup_field = "uuid"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"
    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    def get_queryset(self):
        return alerts_visible_to(self.request.user).select_related("identity", "assignee").order_by("-raised_at", "-id")

    @extend_schema(summary="Triage: assign, acknowledge, resolve (with a reason) or suppress (until a date)",
                   tags=TAGS, request=TriageSerializer, responses={200: AlertSerializer})  # fmt: skip
    @action(detail=True, methods=["post"])
    def triage(self, request, id=None):
        alert = self.get_object()
        given = TriageSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        body = given.validated_data
        verb = body["action"]
        if verb not in ACTIONS:
            raise invalid("action", ERR_ACTION)
        kwargs = {"alert": alert, "actor": request.user, "request": request}
        if verb == "assign":
            kwargs["assignee"] = get_user_model().objects.filter(username=body.get("assignee", "")).first()
        elif verb == "resolve":
            kwargs["reason"] = body.get("reason", "")
        elif verb == "suppress":
            kwargs.update(until=body.get("until"), reason=body.get("reason", ""))
        changed = getattr(services, f"alert_{verb}")(**kwargs)
        return Response(AlertSerializer(self.get_queryset().get(pk=changed.pk)).data)

    @extend_schema(summary="Suspend the alert's identity now (the kill switch), with a reason", tags=TAGS,
                   request=SuspendSerializer, responses={200: AlertSerializer})  # fmt: skip
    @action(detail=True, methods=["post"], url_path="suspend-identity")
    def suspend_identity(self, request, id=None):
        alert = self.get_object()
        given = SuspendSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        services.alert_suspend_identity(alert=alert, actor=request.user, reason=given.validated_data["reason"],
                                        request=request)  # fmt: skip
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)


router.register("alerts", AlertViewSet, basename="alert")
