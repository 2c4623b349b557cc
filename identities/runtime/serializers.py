"""Serializers of /api/v1/runtime-config/: what each configuration row shows, and what creating one takes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from identities.models import Environment, Identity, RiskTier
from identities.runtime.models import (
    AssertionAlgorithm,
    AssertionKey,
    DelegationRule,
    Gateway,
    IdentityField,
    OidcIssuer,
    PerCallMode,
    ProvenanceRule,
    TrustBundle,
)

COMMON = ["id", "description", "enabled", "created_at", "created_by", "disabled_at", "disabled_by", "disable_reason"]
READ_ONLY = [name for name in COMMON if name != "description"]  # a description is given when a row is created


def identity_ref(**kwargs) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="uuid", queryset=Identity.objects.all(), **kwargs)


class ConfigSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    enabled = serializers.BooleanField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    disabled_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)


class GatewaySerializer(ConfigSerializer):
    identity = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    credential_prefix = serializers.CharField(source="prefix", read_only=True)

    class Meta:
        model = Gateway
        fields = [*COMMON, "name", "identity", "audiences", "credential_prefix", "credential_issued_at"]
        read_only_fields = fields


class GatewayCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    audiences = serializers.ListField(child=serializers.CharField(max_length=300), min_length=1, max_length=20)
    environment = serializers.ChoiceField(choices=Environment.choices)
    accountable_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class GatewayCredentialSerializer(GatewaySerializer):
    credential = serializers.CharField(read_only=True, help_text="Shown in this response only.")

    class Meta(GatewaySerializer.Meta):
        fields = [*GatewaySerializer.Meta.fields, "credential"]
        read_only_fields = fields


class TrustBundleSerializer(ConfigSerializer):
    audience = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="",
        help_text="The `aud` its JWT-SVIDs must name; empty or left out: our token endpoint.",
    )  # fmt: skip

    class Meta:
        model = TrustBundle
        fields = [*COMMON, "trust_domain", "audience", "bundle", "bundle_url", "max_proof_lifetime"]
        read_only_fields = READ_ONLY


class OidcIssuerSerializer(ConfigSerializer):
    class Meta:
        model = OidcIssuer
        fields = [*COMMON, "issuer", "audience", "jwks", "jwks_url", "max_proof_lifetime"]
        read_only_fields = READ_ONLY


class AssertionKeySerializer(ConfigSerializer):
    identity = identity_ref()
    algorithm = serializers.ChoiceField(choices=AssertionAlgorithm.choices)
    kid = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class Meta:
        model = AssertionKey
        fields = [*COMMON, "identity", "kid", "algorithm", "jwk"]
        read_only_fields = READ_ONLY


class ProvenanceRuleSerializer(ConfigSerializer):
    identity_field = serializers.ChoiceField(choices=IdentityField.choices, required=False, default="")

    class Meta:
        model = ProvenanceRule
        fields = [*COMMON, "issuer", "claim", "allowed_values", "identity_field"]
        read_only_fields = READ_ONLY


class DelegationRuleSerializer(ConfigSerializer):
    actor = identity_ref()
    subject = identity_ref()

    class Meta:
        model = DelegationRule
        fields = [*COMMON, "actor", "subject"]
        read_only_fields = READ_ONLY


class PerCallModeSerializer(ConfigSerializer):
    identity = identity_ref(required=False, allow_null=True)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices, required=False, allow_blank=True)

    class Meta:
        model = PerCallMode
        fields = [*COMMON, "identity", "risk_tier"]
        read_only_fields = READ_ONLY
        validators = []  # one enabled row per identity or tier: the service says so, naming the field


class DisableSerializer(serializers.Serializer):
    reason = serializers.CharField()
