"""What the registry API answers about systems, tools, entitlements, exceptions, credentials, workflows,
tasks and import jobs (the conventions are those of `identities.api.serializers`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from identities.models import (
    Credential,
    Entitlement,
    ImportJob,
    RiskException,
    System,
    Task,
    Tool,
    Workflow,
)

from .serializers import _username_of, _uuid_of


class SystemSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = System
        fields = ["id", "external_id", "name", "kind", "description", "vendor", "created_at"]
        read_only_fields = fields


class SystemRefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = System
        fields = ["id", "name"]
        read_only_fields = fields


class ToolSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    system = SystemRefSerializer(read_only=True)

    class Meta:
        model = Tool
        fields = [
            "id",
            "external_id",
            "key",
            "name",
            "description",
            "system",
            "actions",
            "sensitivity",
            "data_class",
            "production",
            "production_secrets",
            "third_party",
            "created_at",
        ]
        read_only_fields = fields


class ToolRefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)

    class Meta:
        model = Tool
        fields = ["id", "key"]
        read_only_fields = fields


class EntitlementSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = _uuid_of("identity")
    tool = ToolRefSerializer(read_only=True)
    grant = _uuid_of("grant", allow_null=True)
    granted_by = _username_of("granted_by")
    revoked_by = _username_of("revoked_by")
    active = serializers.SerializerMethodField()

    class Meta:
        model = Entitlement
        fields = [
            "id",
            "external_id",
            "identity",
            "tool",
            "action",
            "scope",
            "mode",
            "source",
            "grant",
            "granted_by",
            "reason",
            "granted_at",
            "expires_at",
            "active",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
        ]
        read_only_fields = fields

    def get_active(self, entitlement) -> bool:
        return entitlement.revoked_at is None


class RiskExceptionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    entitlement = _uuid_of("entitlement")
    identity = serializers.UUIDField(source="entitlement.identity.uuid", read_only=True)
    accepted_by = _username_of("accepted_by")
    revoked_by = _username_of("revoked_by")

    class Meta:
        model = RiskException
        fields = [
            "id",
            "entitlement",
            "identity",
            "accepted_by",
            "reason",
            "valid_until",
            "created_at",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields


class CredentialSerializer(serializers.ModelSerializer):
    """Never a secret: the fingerprint only. `holders` and `entitlements` list what the caller may see."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    holders = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    entitlements = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)

    class Meta:
        model = Credential
        fields = [
            "id",
            "external_id",
            "name",
            "kind",
            "fingerprint",
            "is_static",
            "ttl_seconds",
            "storage_kind",
            "storage_location",
            "issued_at",
            "last_rotated_at",
            "expires_at",
            "holders",
            "entitlements",
            "revocation_status",
            "revocation_requested_at",
            "revocation_reason",
            "revocation_resolved_at",
            "revocation_note",
            "created_at",
        ]
        read_only_fields = fields


class WorkflowSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identities = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "external_id", "name", "description", "identities", "created_at"]
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    identity = _uuid_of("identity")
    workflow = _uuid_of("workflow", allow_null=True)
    completed_by = _username_of("completed_by")

    class Meta:
        model = Task
        fields = [
            "id",
            "identity",
            "name",
            "workflow",
            "state",
            "created_at",
            "completed_at",
            "completed_by",
            "end_reason",
        ]
        read_only_fields = fields


class ImportJobSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    created_by = _username_of("created_by")
    progress = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "filename",
            "sha256",
            "size",
            "dry_run",
            "status",
            "progress",
            "counts",
            "report",
            "created_by",
            "created_at",
            "finished_at",
            "page",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_progress(self, job) -> dict:
        from identities.imports.jobs import job_progress

        return job_progress(job)

    def get_page(self, job) -> str:
        from django.urls import reverse

        request = self.context.get("request")
        url = reverse("import_job", args=[job.uuid])
        return request.build_absolute_uri(url) if request else url
