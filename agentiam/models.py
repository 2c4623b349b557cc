import uuid
from urllib.parse import urlsplit

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """Last time each background component proved it was alive (written by a Celery task)."""

    component = models.CharField(max_length=40, unique=True)
    last_seen = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True)

    def __str__(self):
        return f"{self.component} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"


class OutboxMessage(models.Model):
    """A message to deliver outside the database (an e-mail, a webhook), written in the transaction that
    decided to send it and delivered afterwards by the worker, at least once (agentiam.outbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40)  # the channel: "email", "webhook"
    destination = models.CharField(max_length=2000)
    payload = models.JSONField(default=dict)
    # The same key is enqueued once (a digest computed twice, a retried caller); null: no deduplication.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="agentiam_outbox_due_idx"
            ),
            models.Index(fields=["status", "created_at"], name="agentiam_outbox_status_idx"),
        ]

    def __str__(self):
        return f"{self.kind} to {self.shown_destination} ({self.status})"

    @property
    def shown_destination(self) -> str:
        """The destination as logs and the audit trail show it: a URL's path and query may hold a secret
        (many webhook receivers put their token there), so a URL shows as scheme and host only."""
        parts = urlsplit(self.destination)
        if parts.scheme in ("http", "https") and parts.hostname:
            return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
        return self.destination[:200]
