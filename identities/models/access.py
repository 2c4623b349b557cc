"""The registry's access model: systems and tools, entitlements (immutable), exceptions, usage,
credentials, tasks and grants, and import jobs."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from identities.models.registry import Identity, RiskTier, Workflow

__all__ = [
    "ENTITLEMENT_IMMUTABLE",
    "Action",
    "Credential",
    "CredentialKind",
    "DataClass",
    "Entitlement",
    "EntitlementMode",
    "EntitlementSource",
    "EntitlementUsage",
    "Grant",
    "ImportJob",
    "RevocationStatus",
    "RiskException",
    "StorageKind",
    "System",
    "SystemKind",
    "Task",
    "Tool",
]


class SystemKind(models.TextChoices):
    MCP_SERVER = "mcp_server", "MCP server"
    SAAS = "saas", "SaaS"
    DATABASE = "database", "Database"
    CLOUD_ACCOUNT = "cloud_account", "Cloud account"
    OTHER = "other", "Other"


class System(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=SystemKind.choices)
    description = models.TextField(blank=True)
    vendor = models.CharField(max_length=200, blank=True)
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Action(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"
    EXECUTE = "execute", "Execute"


class DataClass(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class Tool(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="tools")
    key = models.CharField(max_length=200, unique=True)  # e.g. github.create_pull_request
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    actions = ArrayField(models.CharField(max_length=10, choices=Action.choices), default=list)
    sensitivity = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.LOW)
    data_class = models.CharField(max_length=20, choices=DataClass.choices, default=DataClass.INTERNAL)
    production = models.BooleanField(default=False)
    production_secrets = models.BooleanField(default=False)
    third_party = models.BooleanField(default=False)
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class Task(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=200)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "name"], name="task_name_unique_per_identity")]
        indexes = [models.Index(fields=["identity", "state"], name="task_identity_state_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class Grant(models.Model):
    """A time-bound set of JIT entitlements for one task. Knows nothing of the request that produced it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="grants")
    # Every grant has a task: a grant with none would cover every task of the identity (the token service
    # reads grants by task), so the column is NOT NULL.
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="grants")
    reason = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="grant_ends_after_start")
        ]

    def __str__(self) -> str:
        return f"grant {self.uuid} until {self.ends_at:%Y-%m-%d %H:%M}"


class EntitlementMode(models.TextChoices):
    STANDING = "standing", "Standing"
    JIT = "jit", "Just-in-time"


class EntitlementSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"
    GRANT = "grant", "JIT grant"


# Entitlements are immutable once granted; only the revocation columns may be set, once. Enforced in the
# database so that no code path — ORM, raw SQL or an import — can change what a reviewer certified.
ENTITLEMENT_IMMUTABLE = pgtrigger.Trigger(
    name="entitlement_immutable",
    operation=pgtrigger.Update | pgtrigger.Delete,
    when=pgtrigger.Before,
    func="""
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'entitlements are never deleted; revoke instead' USING ERRCODE = 'P0001';
    END IF;
    IF OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'entitlement % is already revoked', OLD.uuid USING ERRCODE = 'P0001';
    END IF;
    IF NEW.revoked_at IS NULL OR
       (to_jsonb(NEW) - '{revoked_at,revoked_by_id,revoke_reason}'::text[]) IS DISTINCT FROM
       (to_jsonb(OLD) - '{revoked_at,revoked_by_id,revoke_reason}'::text[]) THEN
        RAISE EXCEPTION 'entitlements are immutable: revoke and grant a new one' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
    """,
)


class Entitlement(models.Model):
    # db_grants lets the app role UPDATE only these and never DELETE (runtime 0006 adds a plain trigger).
    app_role_updates = ("revoked_at", "revoked_by", "revoke_reason")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="entitlements")
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="entitlements")
    action = models.CharField(max_length=10, choices=Action.choices)
    scope = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=10, choices=EntitlementMode.choices)
    source = models.CharField(max_length=10, choices=EntitlementSource.choices, default=EntitlementSource.MANUAL)
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="entitlements")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - NULL: not imported

    class Meta:
        indexes = [
            models.Index(fields=["identity", "revoked_at"], name="entitle_identity_active_idx"),
            models.Index(fields=["tool", "revoked_at"], name="entitle_tool_active_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "tool", "action", "scope"],
                condition=Q(revoked_at__isnull=True, mode="standing"),
                name="entitlement_one_active_standing",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(revoked_at__isnull=True, external_id__isnull=False),
                name="entitlement_external_id_active_unique",
            ),
            models.CheckConstraint(
                condition=Q(mode="standing", grant__isnull=True) | Q(mode="jit", grant__isnull=False),
                name="entitlement_jit_has_grant",
            ),
        ]
        triggers = [ENTITLEMENT_IMMUTABLE]

    def __str__(self) -> str:
        return f"{self.tool_id}:{self.action} for {self.identity_id}"


class RiskException(models.Model):
    """Accepted risk for one standing write/admin entitlement on a high or critical identity, until a date."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="exceptions")
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    valid_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["entitlement", "valid_until"], name="exception_entitle_idx")]

    def __str__(self) -> str:
        return f"exception until {self.valid_until:%Y-%m-%d}"


class EntitlementUsage(models.Model):
    """Use of an entitlement per day, fed by telemetry; kept apart so entitlements never change."""

    entitlement = models.ForeignKey(Entitlement, on_delete=models.CASCADE, related_name="usage")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entitlement", "day"], name="usage_one_row_per_day")]

    def __str__(self) -> str:
        return f"{self.entitlement_id} on {self.day}: {self.count}"


class CredentialKind(models.TextChoices):
    API_KEY = "api_key", "API key"
    OAUTH_CLIENT_SECRET = "oauth_client_secret", "OAuth client secret"
    PASSWORD = "password", "Password"
    SSH_KEY = "ssh_key", "SSH key"
    X509_SVID = "x509_svid", "X.509-SVID"
    JWT_SVID = "jwt_svid", "JWT-SVID"
    OIDC_FEDERATION = "oidc_federation", "OIDC federation"


class StorageKind(models.TextChoices):
    VAULT = "vault", "Secrets vault"
    MANAGED_IDENTITY = "managed_identity", "Managed identity"
    ENV_VAR = "env_var", "Environment variable"
    SECRETS_MANAGER = "secrets_manager", "Cloud secrets manager"
    FILE = "file", "File"
    CODE = "code", "In code"
    UNKNOWN = "unknown", "Unknown"


class RevocationStatus(models.TextChoices):
    NONE = "", "Not revoked"
    REQUESTED = "requested", "Revocation requested"
    CONFIRMED = "confirmed", "Revoked (confirmed)"
    FAILED = "failed", "Revocation failed"


class Credential(models.Model):
    """A secret or token an identity presents. Only its fingerprint is kept, never the secret."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=24, choices=CredentialKind.choices)
    fingerprint = models.CharField(max_length=128, unique=True)
    is_static = models.BooleanField(default=True)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True)
    storage_kind = models.CharField(max_length=20, choices=StorageKind.choices, default=StorageKind.UNKNOWN)
    storage_location = models.CharField(max_length=500, blank=True)
    issued_at = models.DateTimeField()
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    holders = models.ManyToManyField(Identity, related_name="credentials")
    entitlements = models.ManyToManyField(Entitlement, related_name="credentials", blank=True)
    revocation_status = models.CharField(max_length=10, choices=RevocationStatus.choices, default="", blank=True)
    revocation_requested_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.TextField(blank=True)
    revocation_resolved_at = models.DateTimeField(null=True, blank=True)
    revocation_note = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["revocation_status"], name="credential_revocation_idx")]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    path = models.CharField(max_length=500)  # the uploaded ZIP under VAR_DIR/imports, removed when done
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.uuid} ({self.status})"
