"""What the registry API accepts. These serializers only parse and shape input — references are resolved
among the objects the caller may see (an unseen one is "not found") — and the services decide."""

from __future__ import annotations

from rest_framework import serializers

from identities.models import (
    AcceptableUse,
    Action,
    CredentialKind,
    DataClass,
    Entitlement,
    Environment,
    Exposure,
    Hosting,
    IdentifierKind,
    Identity,
    IdentityKind,
    OwnershipRole,
    Profile,
    RiskTier,
    StorageKind,
    System,
    SystemKind,
    Tool,
)
from identities.risk import CAPABILITIES

from .base import scoped, visible_identities
from .serializers import ACCEPTABLE_USE_TERMS

NOT_FOUND = "No such object, or not one you may see."


class VisibleRelatedField(serializers.SlugRelatedField):
    """A reference by public id (UUID), resolved in a queryset that depends on the caller."""

    default_error_messages = {"does_not_exist": NOT_FOUND, "invalid": "Must be a UUID."}

    def __init__(self, scope=None, **kwargs):
        self.scope = scope
        kwargs.setdefault("slug_field", "uuid")
        super().__init__(**kwargs)

    def get_queryset(self):
        user = self.context["request"].user
        return self.scope(user) if self.scope else super().get_queryset()

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except (TypeError, ValueError):
            self.fail("invalid")
        except serializers.ValidationError as error:
            if "valid UUID" in str(error.detail):
                self.fail("invalid")
            raise


def visible_identity_queryset(user):
    visible = visible_identities(user)
    return Identity.objects.all() if visible is None else visible


def identity_field(**kwargs) -> VisibleRelatedField:
    return VisibleRelatedField(scope=visible_identity_queryset, queryset=Identity.objects.all(), **kwargs)


class PersonField(serializers.SlugRelatedField):
    """A person by public id (the people API's `id`); answers the user."""

    default_error_messages = {"does_not_exist": "No person has this id.", "invalid": "Must be a UUID."}

    def __init__(self, **kwargs):
        super().__init__(slug_field="uuid", queryset=Profile.objects.select_related("user"), **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data).user
        except (TypeError, ValueError):
            self.fail("invalid")

    def to_representation(self, value):
        return str(value.profile.uuid)


def _choices(enum) -> list[tuple[str, str]]:
    """The model's own choices (values and labels), so the schema names one enum per choice set."""
    return [(value, label) for value, label in enum.choices if value]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; recorded in the audit trail.")


class IdentityCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=_choices(IdentityKind))
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    environment = serializers.ChoiceField(choices=_choices(Environment))
    hosting = serializers.ChoiceField(choices=_choices(Hosting), required=False)
    cloud_account = serializers.CharField(max_length=200, required=False, allow_blank=True)
    region = serializers.CharField(max_length=64, required=False, allow_blank=True)
    exposure = serializers.ChoiceField(choices=_choices(Exposure), required=False)
    capabilities = serializers.ListField(child=serializers.ChoiceField(choices=list(CAPABILITIES)), required=False)
    model_provider = serializers.CharField(max_length=64, required=False, allow_blank=True)
    model_name = serializers.CharField(max_length=128, required=False, allow_blank=True)
    parent = identity_field(required=False, allow_null=True, help_text="The parent agent (a sub-agent's id).")
    allowed_image_digests = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    source_repository = serializers.CharField(max_length=300, required=False, allow_blank=True)
    source_commit = serializers.CharField(max_length=64, required=False, allow_blank=True)
    attestation_signer = serializers.CharField(max_length=300, required=False, allow_blank=True)
    person = PersonField(required=False, allow_null=True, help_text="The person a human identity is.")
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)
    accountable_owner = PersonField(
        required=False,
        allow_null=True,
        help_text="Administrators name the accountable owner; an identity owner always becomes it themselves.",
    )


class IdentityUpdateSerializer(IdentityCreateSerializer):
    """Every field optional (PATCH); the kind and the accountable owner are not changed here."""

    kind = None
    accountable_owner = None
    name = serializers.CharField(max_length=200, required=False)
    environment = serializers.ChoiceField(choices=_choices(Environment), required=False)


class TierOverrideSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(
        choices=_choices(RiskTier),
        allow_null=True,
        help_text="The tier to use instead of the derived one; null clears the override.",
    )
    reason = serializers.CharField(max_length=2000)


class IdentifierCreateSerializer(serializers.Serializer):
    identity = identity_field()
    kind = serializers.ChoiceField(choices=_choices(IdentifierKind))
    value = serializers.CharField(max_length=2048, help_text="SPIFFE ID, issuer|subject, agent id or service name.")
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)


class OwnershipCreateSerializer(serializers.Serializer):
    identity = identity_field()
    person = PersonField()
    role = serializers.ChoiceField(choices=_choices(OwnershipRole))


class TransferSerializer(serializers.Serializer):
    identities = serializers.ListField(child=identity_field(), min_length=1, max_length=1000)
    to = PersonField(help_text="The new accountable owner.")
    reason = serializers.CharField(max_length=2000)


class AcceptableUseCreateSerializer(serializers.ModelSerializer):
    identity = identity_field()

    class Meta:
        model = AcceptableUse
        fields = [
            "identity",
            *ACCEPTABLE_USE_TERMS,
        ]
        extra_kwargs = {
            "allowed_tools": {"required": False},
            "data_classes": {"required": False},
            "valid_from": {"required": False, "help_text": "Now when left out."},
        }


class SystemCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=_choices(SystemKind))
    description = serializers.CharField(required=False, allow_blank=True)
    vendor = serializers.CharField(max_length=200, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)


class ToolUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    actions = serializers.ListField(child=serializers.ChoiceField(choices=_choices(Action)), required=False)
    sensitivity = serializers.ChoiceField(choices=_choices(RiskTier), required=False)
    data_class = serializers.ChoiceField(choices=_choices(DataClass), required=False)
    production = serializers.BooleanField(required=False)
    production_secrets = serializers.BooleanField(required=False)
    third_party = serializers.BooleanField(required=False)


class ToolCreateSerializer(ToolUpdateSerializer):
    system = VisibleRelatedField(queryset=System.objects.all())
    key = serializers.CharField(max_length=200, help_text="Unique, e.g. github.create_pull_request.")
    name = serializers.CharField(max_length=200)
    actions = serializers.ListField(child=serializers.ChoiceField(choices=_choices(Action)), min_length=1)
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)


class ExceptionFieldsSerializer(serializers.Serializer):
    exception_reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Accepts the risk of standing write/admin."
    )
    exception_until = serializers.DateTimeField(required=False, allow_null=True, default=None)


class EntitlementCreateSerializer(ExceptionFieldsSerializer):
    identity = identity_field()
    tool = VisibleRelatedField(queryset=Tool.objects.all())
    action = serializers.ChoiceField(choices=_choices(Action))
    scope = serializers.JSONField(required=False, default=dict, help_text="Attribute → glob pattern.")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True, default=None)


class EntitlementReplaceSerializer(ExceptionFieldsSerializer):
    scope = serializers.JSONField(required=False, help_text="The new scope; the old one when left out.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=2000)


def visible_entitlements(user):
    return scoped(Entitlement.objects.all(), user)


class ExceptionCreateSerializer(serializers.Serializer):
    entitlement = VisibleRelatedField(scope=visible_entitlements, queryset=Entitlement.objects.all())
    reason = serializers.CharField(max_length=2000)
    valid_until = serializers.DateTimeField()


class CredentialCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=_choices(CredentialKind))
    fingerprint = serializers.CharField(max_length=128, help_text="A hex digest of the secret; never the secret.")
    is_static = serializers.BooleanField(required=False, default=True)
    ttl_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    storage_kind = serializers.ChoiceField(choices=_choices(StorageKind), required=False)
    storage_location = serializers.CharField(max_length=500, required=False, allow_blank=True)
    issued_at = serializers.DateTimeField()
    last_rotated_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    external_id = serializers.CharField(max_length=200, required=False, allow_null=True)
    holders = serializers.ListField(child=identity_field(), min_length=1, max_length=100)
    entitlements = serializers.ListField(
        child=VisibleRelatedField(scope=visible_entitlements, queryset=Entitlement.objects.all()),
        required=False,
        max_length=1000,
    )


class CredentialResolveSerializer(serializers.Serializer):
    confirmed = serializers.BooleanField(help_text="true: the holder of the secret confirmed it is revoked.")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class WorkflowAttachSerializer(serializers.Serializer):
    identity = identity_field()


class TaskCompleteSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, default="completed")


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A ZIP of CSV or JSON Lines files, one per entity type.")
