"""Persons (a Profile beside Django's User), their single sign-on links and personal API tokens."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    DEPARTED = "departed", "Departed"


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

    class Meta:
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"Profile of {self.user}"


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
