"""What the elevation-request API accepts. These serializers only parse and shape input (each refusal names
its field); reviews.services decides — the acceptable use, what is held, the rule's cap, who may decide."""

from __future__ import annotations

from rest_framework import serializers

from identities.api.inputs import VisibleRelatedField
from identities.models import Identity
from reviews.models import Urgency
from reviews.services.requests import MAX_JUSTIFICATION

MAX_SECONDS = 2**31 - 1  # the column's range; the approval rule's cap is the service's to check
SCOPE_HELP = "tool_key:action, e.g. github.create_pull_request:write"


def _scopes(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=220, help_text=SCOPE_HELP), min_length=1, max_length=20, **kwargs
    )


def _scope(**kwargs) -> serializers.DictField:
    return serializers.DictField(
        child=serializers.CharField(max_length=500),
        help_text='A scope object: attribute → glob pattern (e.g. {"repo": "acme/*"}).',
        **kwargs,
    )


class RequestCreateSerializer(serializers.Serializer):
    identity = VisibleRelatedField(
        scope=lambda user: Identity.objects.restrict(user, "view"), queryset=Identity.objects.all()
    )
    scopes = _scopes()
    scope = _scope(required=False, default=dict)
    task = serializers.CharField(max_length=200, help_text="The task's id (from invalid_scope's task_id) or its name.")
    justification = serializers.CharField(max_length=MAX_JUSTIFICATION, trim_whitespace=False)
    duration_seconds = serializers.IntegerField(min_value=1, max_value=MAX_SECONDS)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=MAX_JUSTIFICATION, allow_blank=True, required=False, default="")
    duration_seconds = serializers.IntegerField(
        min_value=1, max_value=MAX_SECONDS, required=False, help_text="Shorter than asked, never longer."
    )
    scopes = _scopes(required=False, help_text="Some of the scopes asked, never others.")
    scope = _scope(required=False)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=MAX_JUSTIFICATION, allow_blank=True, required=False, default="")


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_JUSTIFICATION, allow_blank=True, required=False, default="")


class EndSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_JUSTIFICATION, help_text="Why the grant ends early.")
