"""The audit trail: append-only and hash-chained, so a quiet rewrite is detected.

Each entry's hash covers a canonical text form of its fields (sorted keys, UTC timestamps) and the
previous entry's hash. UPDATE and DELETE are refused by database triggers; in production the app's
database role may only INSERT and SELECT here, because a session can skip triggers.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    # Append-only tables carry this flag: `db_grants` gives the app's role only SELECT and INSERT on them,
    # and a system check insists on a trigger refusing UPDATE and DELETE.
    append_only = True

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


class AuditCheckpoint(models.Model):
    """A signed statement "the trail had `entry_count` entries up to `last_entry_id`, ending in `head_hash`".

    Each checkpoint also signs the previous checkpoint's signature, so checkpoints form a chain of their
    own, and each is appended to a sink outside the database (see audit.sinks)."""

    append_only = True

    last_entry_id = models.BigIntegerField(unique=True)
    entry_count = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    prev_signature = models.CharField(max_length=100, blank=True)  # "" for the first checkpoint
    key_id = models.CharField(max_length=64)  # the signing key's kid (RFC 7638 thumbprint)
    signature = models.CharField(max_length=100)  # base64url Ed25519 over audit.checkpoints.checkpoint_text
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        triggers = [
            pgtrigger.Protect(name="audit_checkpoint_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"checkpoint #{self.pk} up to entry #{self.last_entry_id}"


class SigningKey(models.Model):
    """An Ed25519 key with one purpose. The private half is stored encrypted under the key-encryption key
    (settings.AGENTIAM_KEY_ENCRYPTION_KEY) and destroyed when the key is retired; the public half is kept
    forever, so what a key signed stays verifiable."""

    class Purpose(models.TextChoices):
        TOKEN = "token", "Token signing"
        AUDIT_CHECKPOINT = "audit_checkpoint", "Audit checkpoints"
        EVIDENCE = "evidence", "Evidence manifests"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        COMPROMISED = "compromised", "Compromised"

    # db_grants lets the app role UPDATE only these and never DELETE; audit.hardening's trigger does the rest.
    app_role_updates = ("status", "retired_at", "private_key_encrypted")

    kid = models.CharField(max_length=64, unique=True)  # RFC 7638 JWK thumbprint of the public key
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    public_key = models.CharField(max_length=64)  # base64url of the 32 raw bytes (the JWK's "x")
    private_key_encrypted = models.BinaryField(null=True, editable=False)  # nonce || AES-GCM ciphertext
    kek_id = models.CharField(max_length=16)  # which key-encryption key sealed the private half
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purpose", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose"], condition=models.Q(status="active"), name="audit_one_active_key_per_purpose"
            ),
        ]
        triggers = [
            # What a key is never changes, and a key is never deleted: its signatures must stay verifiable.
            pgtrigger.ReadOnly(
                name="signing_key_identity_read_only", fields=["kid", "purpose", "public_key", "created_at"]
            ),
            pgtrigger.Protect(name="signing_key_never_deleted", operation=pgtrigger.Delete),
            # Status only moves forward: active -> retired -> compromised, or active -> compromised.
            pgtrigger.Protect(
                name="signing_key_status_forward_only",
                operation=pgtrigger.Update,
                condition=(pgtrigger.Q(old__status__in=["retired", "compromised"], new__status="active"))
                | (pgtrigger.Q(old__status="compromised") & ~pgtrigger.Q(new__status="compromised")),
            ),
        ]

    def __str__(self):
        return f"{self.purpose} key {self.kid[:12]}… ({self.status})"


class SecurityEvent(models.Model):
    """Unauthenticated refusals — a failed proof at the token endpoint, a bad gateway or API credential, an
    anonymous write — kept apart from the trail: not chained, written without the trail's advisory lock, so
    anonymous traffic never queues behind (or in front of) the audited writes. Rate-limited per source address
    and kind (audit.security): past SECURITY_EVENTS_PER_WINDOW rows a window, nothing more is written, and the
    first row of the next window counts the events left out (`suppressed_before`). Append-only."""

    append_only = True

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=60, db_index=True)  # e.g. token.invalid_grant, gateway.unauthenticated
    source = models.GenericIPAddressField(null=True)  # REMOTE_ADDR
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=300, blank=True)
    detail = models.CharField(max_length=300, blank=True)  # the answer's reason (never the credential)
    suppressed_before = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source", "kind", "-id"], name="audit_secevent_source_idx")]
        triggers = [
            pgtrigger.Protect(name="audit_security_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"{self.kind} from {self.source or 'unknown'} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
