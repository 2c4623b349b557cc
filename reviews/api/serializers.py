"""What the elevation-request API answers: the request, its approvals (who decided what, when) and the grant
it produced (the granted terms and when it ends). Public ids are UUIDs; persons are usernames."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from reviews.models import Approval, ElevationRequest, RequestState


def state_now(request: ElevationRequest) -> str:
    """The request's state as the clock has it: a pending request past its expiry is expired, whether or not
    the sweep (reviews.tasks.expire_requests) has marked it yet — what an agent polling it must be told."""
    if request.state == RequestState.PENDING and request.expires_at <= timezone.now():
        return RequestState.EXPIRED
    return request.state


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)
    on_behalf_of = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Approval
        fields = ["approver", "on_behalf_of", "decision", "comment", "decided_at", "duration_seconds", "scopes",
                  "scope"]  # fmt: skip
        read_only_fields = fields


class GrantedSerializer(serializers.Serializer):
    """The terms granted (the narrowest of the approvals) and the grant's clock."""

    grant = serializers.UUIDField(source="grant.uuid", help_text="The grant's id.")
    scopes = serializers.ListField(child=serializers.CharField(), source="granted_scopes")
    scope = serializers.JSONField(source="granted_scope")
    duration_seconds = serializers.IntegerField(source="granted_duration_seconds")
    starts_at = serializers.DateTimeField(source="grant.starts_at")
    expires_at = serializers.DateTimeField(source="grant.ends_at", help_text="When the grant ends by itself.")
    ended_at = serializers.DateTimeField(source="grant.ended_at", allow_null=True, help_text="Ended early, when.")
    end_reason = serializers.CharField(source="grant.end_reason")


class ElevationRequestSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    state = serializers.SerializerMethodField(help_text="pending past its expiry answers expired (the clock's word).")
    identity = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    task = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    task_name = serializers.CharField(source="task.name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    requested_by_identity = serializers.SlugRelatedField(
        slug_field="uuid", read_only=True, allow_null=True, help_text="The identity, when the agent asked itself."
    )
    decided_by = serializers.SerializerMethodField(help_text="Who approved or denied it, in order.")
    approvals = ApprovalSerializer(many=True, read_only=True)
    granted = serializers.SerializerMethodField()

    class Meta:
        model = ElevationRequest
        fields = [
            "id", "state", "identity", "identity_name", "task", "task_name", "scopes", "scope", "justification",
            "duration_seconds", "urgency", "requested_by", "requested_by_identity", "approvals_needed",
            "created_at", "expires_at", "decided_at", "closed_note", "decided_by", "approvals", "granted",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=RequestState.choices))
    def get_state(self, request: ElevationRequest) -> str:
        return state_now(request)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_decided_by(self, request: ElevationRequest) -> list[str]:
        return [approval.approver.username for approval in request.approvals.all()]

    @extend_schema_field(GrantedSerializer(allow_null=True))
    def get_granted(self, request: ElevationRequest) -> dict | None:
        if request.grant_id is None:
            return None
        return GrantedSerializer(request).data
