"""What the review-item API answers and accepts. Inputs only parse (each refusal names its field); the
attestation services decide who may do what. Public ids are UUIDs; persons are their people-API ids."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from identities.api.inputs import PersonField
from reviews.models_campaigns import ItemDecision, ReviewItem
from reviews.services.attest import MAX_BULK, MAX_COMMENT, MAX_TIME_SPENT_MS


class ItemEntitlementSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    tool = serializers.CharField(source="tool.key")
    action = serializers.CharField()
    scope = serializers.JSONField()
    mode = serializers.CharField()
    granted_at = serializers.DateTimeField()
    granted_by = serializers.CharField(source="granted_by.username", allow_null=True, default=None)
    reason = serializers.CharField()
    revoked_at = serializers.DateTimeField(allow_null=True)


class ReviewItemSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    campaign = serializers.UUIDField(source="run.campaign.uuid", read_only=True, help_text="The campaign's id.")
    campaign_name = serializers.CharField(source="run.campaign.name", read_only=True)
    run = serializers.UUIDField(source="run.uuid", read_only=True, help_text="The campaign run's id.")
    identity = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True, allow_null=True, default=None)
    entitlement = ItemEntitlementSerializer(read_only=True, allow_null=True)
    role_holder = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reassigned_from = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    revoked_elsewhere = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = [
            "id", "campaign", "campaign_name", "run", "stage", "identity", "identity_name", "entitlement",
            "role_holder", "role", "recommendation", "reason", "reasons", "flagged", "evidence", "state",
            "decision", "comment", "reduce_scope", "reduce_jit_only", "reviewer", "routed_via", "reassigned_from",
            "reassign_note", "due_at", "decided_by", "decided_at", "time_spent_ms", "bulk", "signed_off_at",
            "fulfilment_status", "fulfilment_error", "revoked_elsewhere",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField(help_text="The access ended outside this campaign: done."))
    def get_revoked_elsewhere(self, item) -> bool:
        ended = item.entitlement_id is not None and item.entitlement.revoked_at is not None
        return ended and item.decision not in ("revoke", "reduce")


def _comment(**kwargs):
    return serializers.CharField(
        max_length=MAX_COMMENT, allow_blank=True, required=False, default="", trim_whitespace=False, **kwargs
    )


def _spent():
    return serializers.IntegerField(
        min_value=0, max_value=MAX_TIME_SPENT_MS, required=False, allow_null=True, default=None,
        help_text="How long the reviewer looked at the item (ms), so rubber-stamping shows.",
    )  # fmt: skip


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ItemDecision.choices)
    comment = _comment(help_text="Required where the campaign says so; always to keep a flagged item.")
    scope = serializers.DictField(
        child=serializers.CharField(max_length=500), required=False, allow_null=True, default=None,
        help_text='reduce: the narrower scope (attribute → glob pattern), within the current one.',
    )  # fmt: skip
    jit_only = serializers.BooleanField(
        required=False, default=False, help_text="reduce: the standing entitlement ends; the identity may ask for it."
    )
    reassign_to = PersonField(required=False, allow_null=True, default=None, help_text="reassign: the person's id.")
    note = _comment(help_text="reassign: why, for the next reviewer.")
    time_spent_ms = _spent()


class BulkDecideSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=MAX_BULK)
    decision = serializers.ChoiceField(choices=[(ItemDecision.CERTIFY, "Certify"), (ItemDecision.REVOKE, "Revoke")])
    comment = _comment()
    time_spent_ms = _spent()


class AcceptSerializer(serializers.Serializer):
    run = serializers.UUIDField(required=False, allow_null=True, default=None, help_text="Only this campaign run.")
    comment = _comment(help_text="Given: items that need a comment are accepted too, with this one.")
    time_spent_ms = _spent()


class AcceptedSerializer(serializers.Serializer):
    certified = serializers.IntegerField()
    revoked = serializers.IntegerField()
    left = serializers.IntegerField(help_text="Pending items left for one at a time.")


class SignOffSerializer(serializers.Serializer):
    run = serializers.UUIDField(help_text="The campaign run whose current stage you sign off.")
    note = _comment()


class SignedOffSerializer(serializers.Serializer):
    run = serializers.UUIDField(source="run.uuid")
    stage = serializers.IntegerField()
    signed_off_at = serializers.DateTimeField()
    items = serializers.IntegerField()


class CompleteReduceSerializer(serializers.Serializer):
    exception_reason = serializers.CharField(max_length=MAX_COMMENT, required=False, allow_blank=True, default="")
    exception_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
