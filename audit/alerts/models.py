"""Alerts and what the evaluator keeps to raise them.

- `DetectorCursor` (one row): the high-water mark over the events' ingest sequence (`ActionEvent.id`) and the
  pending mark that tells when the events below a sequence value are all committed (audit.alerts.evaluate).
- `BaselineUse`: per identity, each (tool, action) seen, first and last seen, how often.
- `ActivityWindow`: per identity, events and denials in each ten-minute window — the volume, denial-burst
  and hours baseline, and the running counts of the current window.
- `Alert`: unique on (rule, identity, scope) where scope is the trace id or the time window, so a re-run of
  the evaluator raises none twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from identities.models import Identity

__all__ = ["ActivityWindow", "Alert", "AlertState", "BaselineUse", "DetectorCursor", "Rule", "Severity"]


class Rule(models.TextChoices):
    NEW_TOOL = "new_tool", "Tool never used before"
    OUTSIDE_ENTITLEMENT = "outside_entitlement", "Action outside entitlements"
    OUTSIDE_ACCEPTABLE_USE = "outside_acceptable_use", "Tool outside acceptable use"
    DENIAL_BURST = "denial_burst", "Burst of denials"
    VOLUME_SPIKE = "volume_spike", "Volume far above baseline"
    CHAIN_DEPTH = "chain_depth", "Chain deeper than the threshold"
    CHAIN_FAN_OUT = "chain_fan_out", "Chain fans out wider than the threshold"
    PRIVILEGE_WIDENING = "privilege_widening", "Privilege widening within a chain"
    IDENTITY_FAN_OUT = "identity_fan_out", "One identity used by many workflows"
    UNUSUAL_HOURS = "unusual_hours", "Production access at unusual hours"
    AFTER_REVOCATION = "after_revocation", "Used after revocation"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    SUPPRESSED = "suppressed", "Suppressed"


class DetectorCursor(models.Model):
    name = models.CharField(max_length=40, unique=True)
    done_id = models.BigIntegerField(default=0)  # every event with id <= done_id has been evaluated
    safe_id = models.BigIntegerField(default=0)  # every event with id <= safe_id is committed (or never will be)
    mark_id = models.BigIntegerField(null=True)  # the sequence's value when the pending mark was taken
    mark_vxids = ArrayField(models.CharField(max_length=40), default=list)  # transactions open then
    mark_at = models.DateTimeField(null=True)
    evaluated = models.BigIntegerField(default=0)  # events evaluated, in total
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.done_id}"


class BaselineUse(models.Model):
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    tool_key = models.CharField(max_length=200)
    action = models.CharField(max_length=10, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "tool_key", "action"], name="audit_alerts_use_unique")
        ]

    def __str__(self) -> str:
        return f"{self.identity_id}: {self.tool_key}:{self.action}"


class ActivityWindow(models.Model):
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    start = models.DateTimeField()  # a ten-minute window (audit.alerts.detectors.WINDOW)
    events = models.IntegerField(default=0)
    denials = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "start"], name="audit_alerts_window_unique")]

    def __str__(self) -> str:
        return f"{self.identity_id} @ {self.start:%Y-%m-%d %H:%M}"


class AlertQuerySet(models.QuerySet):
    def waiting(self, now):
        """What still needs an analyst: open, or suppressed until a moment that has passed."""
        return self.filter(Q(state=AlertState.OPEN) | Q(state=AlertState.SUPPRESSED, suppressed_until__lte=now))


class Alert(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule = models.CharField(max_length=30, choices=Rule.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=64)  # "trace:<32 hex>" or "window:<ISO start>" or "day:<date>"
    trace_id = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=300)
    reasons = models.JSONField(default=list)  # what the detector found, in words and figures
    event_ids = ArrayField(models.BigIntegerField(), default=list)  # ActionEvent ids (the ingest sequence)
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    raised_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=AlertState.choices, default=AlertState.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)  # the first triage change: time-to-triage
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    suppressed_until = models.DateTimeField(null=True, blank=True)
    suppress_reason = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "identity", "scope"], name="audit_alerts_alert_unique"),
            models.CheckConstraint(
                condition=~Q(state="resolved") | ~Q(resolution=""), name="audit_alerts_resolved_has_reason"
            ),
            models.CheckConstraint(
                condition=~Q(state="suppressed") | Q(suppressed_until__isnull=False),
                name="audit_alerts_suppressed_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-raised_at"], name="audit_alerts_state_idx"),
            models.Index(fields=["identity", "-raised_at"], name="audit_alerts_identity_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()}: {self.title}"

    @property
    def time_to_triage(self):
        return self.triaged_at - self.raised_at if self.triaged_at else None

    @property
    def time_to_triage_text(self) -> str:
        spent = self.time_to_triage
        if spent is None:
            return ""
        minutes = int(spent.total_seconds() // 60)
        if minutes < 60:
            return f"{max(minutes, 0)} min"
        if minutes < 48 * 60:
            return f"{minutes // 60} h {minutes % 60} min"
        return f"{minutes // 1440} days"
