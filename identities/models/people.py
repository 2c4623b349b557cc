"""Persons (a Profile beside Django's User), their sessions, single sign-on links and personal API tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agentiam.permissions import SEE_EVERYTHING, roles_of

__all__ = [
    "API_TOKEN_DEFAULT_DAYS",
    "API_TOKEN_MAX_DAYS",
    "ApiToken",
    "ApiTokenQuerySet",
    "PersonSession",
    "PersonStatus",
    "Profile",
    "ProfileQuerySet",
    "SSOLink",
    "person_name",
]


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    DEPARTED = "departed", "Departed"


class ProfileQuerySet(models.QuerySet):
    def restrict(self, actor) -> ProfileQuerySet:
        """Persons `actor` may see: everyone for the see-everything roles, otherwise only themselves."""
        if not actor or not actor.is_authenticated:
            return self.none()
        if roles_of(actor) & SEE_EVERYTHING:
            return self
        return self.filter(user_id=actor.pk)

    def with_people(self) -> ProfileQuerySet:
        return self.select_related("user", "manager")


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=PersonStatus.choices, default=PersonStatus.ACTIVE)
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    # NULL rather than "" so that many persons without an employee id do not collide on the unique index.
    employee_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    job_title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProfileQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return person_name(self.user)

    @property
    def is_active(self) -> bool:
        return self.status == PersonStatus.ACTIVE


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


class SSOLink(models.Model):
    """One identity-provider account (issuer + subject) linked to a person."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_links")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="ssolink_issuer_subject_unique")]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject} → {self.user}"


class PersonSession(AbstractBaseSession):
    """Django's database session with the signed-in person's id in its own indexed column.

    Disabling a person deletes their rows with one indexed DELETE instead of decoding every session in
    the table; the column is written with the session itself, so a rotated session key is never missed.
    No foreign key: a session may outlive or precede its person row, and must never fail to save."""

    user_id = models.IntegerField(null=True, db_index=True)

    class Meta(AbstractBaseSession.Meta):
        db_table = "identities_person_session"

    @classmethod
    def get_session_store_class(cls):
        from identities.sessions import SessionStore

        return SessionStore


API_TOKEN_DEFAULT_DAYS = 90
API_TOKEN_MAX_DAYS = 365


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A personal API token. Only a keyed hash of the secret is stored; the prefix is not secret."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_reason = models.CharField(max_length=200, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="apitoken_expires_after"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"
