"""The audit trail: append-only and hash-chained, so a quiet rewrite is detected.

Each entry's hash covers a canonical text form of its fields (sorted keys, UTC timestamps) and the
previous entry's hash. UPDATE and DELETE are refused by database triggers; in production the app's
database role may only INSERT and SELECT here, because a session can skip triggers.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.db import models


class AuditEntry(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, db_index=True)  # a person's user id; no FK: rows never change
    actor_label = models.CharField(max_length=200)  # who it was at the time (username, client name, "system")
    actor_kind = models.CharField(max_length=20)  # person, api_token, system, agent, gateway
    action = models.CharField(max_length=80, db_index=True)  # e.g. "role.grant", "identity.suspend"
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    object_label = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict)
    ip_address = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-id"], name="audit_object_idx")]
        triggers = [
            pgtrigger.Protect(name="audit_entry_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"#{self.pk} {self.action} by {self.actor_label}"
