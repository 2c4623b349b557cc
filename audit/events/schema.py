"""OpenAPI descriptions of the ingest endpoint (drf-spectacular serializers; documentation only)."""

from rest_framework import serializers

from audit.events.models import Outcome
from identities.models import Action


class EventIn(serializers.Serializer):
    id = serializers.UUIDField(help_text="The event's id: sending it again is harmless (idempotency key).")
    identity = serializers.UUIDField(required=False, help_text="The identity's public id …")
    identifier = serializers.CharField(required=False, help_text="… or one of its registered identifiers …")
    task_token = serializers.CharField(required=False, help_text="… or its AgentIAM access token.")
    trace_id = serializers.RegexField(r"^[0-9a-f]{32}$")
    span_id = serializers.RegexField(r"^[0-9a-f]{16}$")
    parent_span_id = serializers.RegexField(r"^[0-9a-f]{16}$", required=False, allow_null=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(required=False, allow_null=True)
    name = serializers.CharField(required=False, max_length=200)
    operation = serializers.CharField(required=False, max_length=40)
    tool = serializers.CharField(required=False, max_length=200)
    action = serializers.ChoiceField(Action.choices, required=False)
    resource = serializers.DictField(required=False)
    decision_id = serializers.UUIDField(required=False, allow_null=True, help_text="decide's decision_id")
    outcome = serializers.ChoiceField(Outcome.choices, required=False)
    error_type = serializers.CharField(required=False, max_length=100)
    attributes = serializers.DictField(required=False)


class EventsIn(serializers.Serializer):
    events = EventIn(many=True)


class Rejected(serializers.Serializer):
    index = serializers.IntegerField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class EventsAnswer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="New events written.")
    duplicates = serializers.IntegerField(help_text="Events already stored (sent before, or a span of a stored step).")
    quarantined = serializers.IntegerField(help_text="Of the new events, those kept without an identity.")
    rejected = Rejected(many=True, help_text="Invalid events, by index; the valid ones were kept.")
