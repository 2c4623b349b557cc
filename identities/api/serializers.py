"""What the registry API answers. Public ids are UUIDs (`id`), references are the referenced object's id
(or a small nested object), and everything nested is prefetched by the viewsets so a page of 50 costs
what a page of 2 does."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from identities.models import (
    AcceptableUse,
    Identifier,
    Identity,
    Ownership,
    RiskTier,
)


def _uuid_of(name: str, **kwargs) -> serializers.SlugRelatedField:
    """The related object's public id (`name` documents which relation; the field's own name is used)."""
    return serializers.SlugRelatedField(slug_field="uuid", read_only=True, **kwargs)


def _username_of(name: str) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class PersonLinkSerializer(serializers.Serializer):
    """A person: their public id (the people API's `id`), username and name."""

    id = serializers.UUIDField(source="profile.uuid", read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class OwnerSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    person = PersonLinkSerializer(read_only=True)

    class Meta:
        model = Ownership
        fields = ["id", "role", "person", "valid_from"]
        read_only_fields = fields


class IdentifierBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = Identifier
        fields = ["id", "kind", "value"]
        read_only_fields = fields


class IdentitySerializer(serializers.ModelSerializer):
    """One row of the identity list."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    accountable_owner = serializers.SerializerMethodField()
    tier_override = serializers.ChoiceField(
        choices=RiskTier.choices, allow_blank=True, read_only=True, help_text="Empty: the derived tier applies."
    )

    class Meta:
        model = Identity
        fields = [
            "id",
            "external_id",
            "kind",
            "name",
            "status",
            "environment",
            "hosting",
            "exposure",
            "risk_tier",
            "derived_tier",
            "tier_override",
            "is_orphaned",
            "flags",
            "accountable_owner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PersonLinkSerializer(allow_null=True))
    def get_accountable_owner(self, identity):
        owners = getattr(identity, "current_accountable", None)
        if owners is None:  # not prefetched: a single object (create, update, actions)
            owners = [o for o in identity.current_owners if o.role == "accountable"]
        return PersonLinkSerializer(owners[0].person).data if owners else None


class IdentityDetailSerializer(IdentitySerializer):
    """The identity page's facts: risk and why, owners, identifiers, workflows, provenance."""

    parent = _uuid_of("parent", allow_null=True)
    person = PersonLinkSerializer(read_only=True, allow_null=True)
    tier_override_by = _username_of("tier_override_by")
    owners = OwnerSerializer(source="current_owners", many=True, read_only=True)
    identifiers = IdentifierBriefSerializer(many=True, read_only=True)
    workflows = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta(IdentitySerializer.Meta):
        fields = [
            *IdentitySerializer.Meta.fields,
            "description",
            "status_reason",
            "status_changed_at",
            "cloud_account",
            "region",
            "capabilities",
            "model_provider",
            "model_name",
            "parent",
            "delegation_depth",
            "allowed_image_digests",
            "source_repository",
            "source_commit",
            "attestation_signer",
            "person",
            "risk_reasons",
            "risk_assessed_at",
            "tier_override_reason",
            "tier_override_by",
            "tier_override_at",
            "owners",
            "identifiers",
            "workflows",
        ]
        read_only_fields = fields


class IdentifierSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = _uuid_of("identity")
    workflow = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Identifier
        fields = ["id", "external_id", "identity", "kind", "value", "workflow", "created_at"]
        read_only_fields = fields


class OwnershipSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = _uuid_of("identity")
    person = PersonLinkSerializer(read_only=True)
    assigned_by = _username_of("assigned_by")
    ended_by = _username_of("ended_by")

    class Meta:
        model = Ownership
        fields = ["id", "identity", "person", "role", "valid_from", "valid_to", "assigned_by", "ended_by", "end_reason"]
        read_only_fields = fields


# What an acceptable-use record says; the API reads and writes these fields by name.
ACCEPTABLE_USE_TERMS = [
    "purpose",
    "allowed_tools",
    "data_classes",
    "prohibited_actions",
    "human_in_the_loop",
    "valid_from",
    "valid_until",
]


class AcceptableUseSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = _uuid_of("identity")
    approved_by = _username_of("approved_by")

    class Meta:
        model = AcceptableUse
        fields = [
            "id",
            "identity",
            "version",
            *ACCEPTABLE_USE_TERMS,
            "approved_by",
            "approved_at",
        ]
        read_only_fields = fields
