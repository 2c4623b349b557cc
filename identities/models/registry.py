"""The registry: identities, their identifiers, owners, acceptable use, systems and tools, entitlements,
exceptions, credentials, workflows, tasks and grants."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from agentiam.permissions import roles_of
from identities import rules

__all__ = [
    "AcceptableUse",
    "Environment",
    "Exposure",
    "Flag",
    "Hosting",
    "Identifier",
    "IdentifierKind",
    "Identity",
    "IdentityKind",
    "IdentityQuerySet",
    "IdentityStatus",
    "Ownership",
    "OwnershipRole",
    "RiskTier",
    "Workflow",
    "current_ownerships",
    "standing",
]


class IdentityKind(models.TextChoices):
    AGENT = "agent", "Agent"
    SERVICE_ACCOUNT = "service_account", "Service account"
    HUMAN = "human", "Human"


class IdentityStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


class Environment(models.TextChoices):
    DEV = "dev", "Development"
    TEST = "test", "Test"
    STAGING = "staging", "Staging"
    PROD = "prod", "Production"


class Exposure(models.TextChoices):
    CUSTOMER_FACING = "customer_facing", "Customer-facing"
    INTERNAL = "internal", "Internal"


class Hosting(models.TextChoices):
    AWS = "aws", "AWS"
    GCP = "gcp", "Google Cloud"
    AZURE = "azure", "Azure"
    ON_PREM = "on_prem", "On-premises"
    OTHER = "other", "Other"


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Flag(models.TextChoices):
    ORPHANED = "orphaned", "No accountable owner"
    AUP_MISSING = "aup_missing", "No acceptable-use record"
    AUP_EXPIRED = "aup_expired", "Acceptable-use record expired"
    FAN_OUT = "fan_out", "Serves several workflows"
    SHARED_CREDENTIAL = "shared_credential", "Presents a shared credential"
    OLD_STATIC_SECRET = "old_static_secret", "Static secret not rotated in 90 days"
    UNEXCEPTED_PRIVILEGE = "unexcepted_privilege", "Standing write/admin without a valid exception"


def _signed_in(person) -> bool:
    return person is not None and person.is_authenticated and person.is_active


def _owned_by(user, as_roles=None):
    owned = current_ownerships().filter(identity=OuterRef("pk"), person=user)
    return owned if as_roles is None else owned.filter(role__in=sorted(as_roles))


def current_ownerships(at=None):
    """Ownership rows in force at `at` (now by default)."""
    at = at or timezone.now()
    return Ownership.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at), valid_from__lte=at)


def standing(identity, person) -> rules.Standing:
    """How `person` stands to `identity` now, for identities.rules (one query); nothing for a person who
    cannot sign in."""
    roles = roles_of(person)
    if not _signed_in(person):
        return rules.Standing(roles)
    rows = (
        current_ownerships()
        .filter(identity=identity)
        .filter(Q(person=person) | Q(person__profile__manager=person))
        .values_list("person_id", "role")
    )
    ownership, manages = set(), False
    for person_id, role in rows:
        if person_id == person.pk:
            ownership.add(role)
        else:
            manages = True
    return rules.Standing(roles, frozenset(ownership), manages)


class IdentityQuerySet(models.QuerySet):
    def restrict(self, user, action: str = "view"):
        """Identities on which `user` has the right `action` (identities.rules; "view" and "change" for
        pages); others are simply absent (404)."""
        relations = rules.Relations(
            owns=lambda as_roles: Q(Exists(_owned_by(user, as_roles))),
            manages_an_owner=lambda: Q(
                Exists(current_ownerships().filter(identity=OuterRef("pk"), person__profile__manager=user))
            ),
        )
        if not _signed_in(user):
            return self.none()
        where = rules.where(action, roles_of(user), relations)
        if where is True:
            return self
        if where is False:
            return self.none()
        return self.filter(where)

    def owned_by(self, user):
        return self.filter(Exists(_owned_by(user)))

    def active(self):
        return self.filter(status="active")

    def orphaned(self):
        return self.filter(is_orphaned=True)

    def flagged(self):
        return self.exclude(flags=[])


class Identity(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=IdentityStatus.choices, default=IdentityStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    environment = models.CharField(max_length=10, choices=Environment.choices)
    hosting = models.CharField(max_length=10, choices=Hosting.choices, default=Hosting.OTHER)
    cloud_account = models.CharField(max_length=200, blank=True)
    region = models.CharField(max_length=64, blank=True)
    exposure = models.CharField(max_length=20, choices=Exposure.choices, default=Exposure.INTERNAL)
    capabilities = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    model_provider = models.CharField(max_length=64, blank=True)
    model_name = models.CharField(max_length=128, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    delegation_depth = models.PositiveSmallIntegerField(default=0)
    allowed_image_digests = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    source_repository = models.CharField(max_length=300, blank=True)
    source_commit = models.CharField(max_length=64, blank=True)
    attestation_signer = models.CharField(max_length=300, blank=True)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="human_identities"
    )
    # Risk: derived by identities.risk.assess_risk in the same transaction as any change to its inputs.
    derived_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.LOW)
    risk_reasons = models.JSONField(default=list, blank=True)
    risk_assessed_at = models.DateTimeField(null=True, blank=True)
    tier_override = models.CharField(max_length=10, choices=RiskTier.choices, blank=True)
    tier_override_reason = models.TextField(blank=True)
    tier_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    tier_override_at = models.DateTimeField(null=True, blank=True)
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.LOW)  # effective
    is_orphaned = models.BooleanField(default=True)
    flags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "identities"
        indexes = [
            models.Index(fields=["risk_tier", "environment", "is_orphaned", "id"], name="identity_risk_filter_idx"),
            models.Index(fields=["kind", "status", "id"], name="identity_kind_status_idx"),
            models.Index(fields=["name", "id"], name="identity_name_idx"),
            GinIndex(fields=["flags"], name="identity_flags_gin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=True) | Q(kind="human"), name="identity_person_only_for_humans"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class IdentifierKind(models.TextChoices):
    SPIFFE = "spiffe", "SPIFFE ID"
    OIDC_SUBJECT = "oidc_subject", "OIDC subject"
    AGENT_ID = "agent_id", "Agent id (telemetry)"
    SERVICE_NAME = "service_name", "Service name"


class Workflow(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    identities = models.ManyToManyField(Identity, related_name="workflows", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Identifier(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    # OIDC subjects are unique per issuer: stored as "issuer|subject".
    value = models.CharField(max_length=2048, unique=True)
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    external_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.value


class OwnershipRole(models.TextChoices):
    ACCOUNTABLE = "accountable", "Accountable"
    TECHNICAL = "technical", "Technical"
    BACKUP = "backup", "Backup"


class Ownership(models.Model):
    """Who owned an identity, in which role, from when to when (valid_to NULL: still does)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="ownerships")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ownerships")
    role = models.CharField(max_length=12, choices=OwnershipRole.choices)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["person", "valid_to"], name="ownership_person_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "person", "role"],
                condition=Q(valid_to__isnull=True),
                name="ownership_one_current_per_role",
            ),
            models.UniqueConstraint(
                fields=["identity"],
                condition=Q(valid_to__isnull=True, role="accountable"),
                name="ownership_one_current_accountable",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.role} of {self.identity_id}"


class AcceptableUse(models.Model):
    """One version of an identity's acceptable-use record. Never rewritten: a change is a new version."""

    append_only = True  # db_grants gives the app role INSERT and SELECT only

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="acceptable_uses")
    version = models.PositiveIntegerField()
    purpose = models.TextField()
    allowed_tools = ArrayField(models.CharField(max_length=200), default=list, blank=True)  # tool key globs
    data_classes = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    prohibited_actions = models.TextField(blank=True)
    human_in_the_loop = models.TextField(blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["identity", "version"], name="aup_identity_version_unique")]
        triggers = [pgtrigger.Protect(name="aup_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"v{self.version} of {self.identity_id}"
