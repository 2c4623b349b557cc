"""Policy versions (Cedar text, schema, test cases) and the decision log.

PolicyDecision lives in a table partitioned by day (created with RunSQL in migration 0002; Django only
keeps its state), so retention drops whole partitions instead of deleting rows. Its primary key in the
database is (decided_at, id) — the partition key must be part of it; Django addresses rows by `id`,
which a sequence keeps unique.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from identities.models import Identity, Task
from identities.runtime.models.config import Gateway

__all__ = [
    "PolicyDecision",
    "PolicyStatus",
    "PolicyVersion",
    "Verdict",
]


class PolicyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class PolicyVersion(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    summary = models.CharField(max_length=300, blank=True)
    policy_text = models.TextField()
    schema_text = models.TextField()
    test_cases = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="runtime_one_active_policy")
        ]
        triggers = [
            # What was activated is what decisions cite: once out of draft, the text never changes.
            pgtrigger.Protect(
                name="runtime_policy_text_frozen",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["active", "retired"])
                & (
                    pgtrigger.Q(old__policy_text__df=pgtrigger.F("new__policy_text"))
                    | pgtrigger.Q(old__schema_text__df=pgtrigger.F("new__schema_text"))
                    | pgtrigger.Q(old__test_cases__df=pgtrigger.F("new__test_cases"))
                ),
            ),
            # draft → active → retired, never back.
            pgtrigger.Protect(
                name="runtime_policy_status_forward",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status="retired", new__status__in=["draft", "active"])
                | pgtrigger.Q(old__status="active", new__status="draft"),
            ),
            pgtrigger.Protect(
                name="runtime_policy_kept",
                operation=pgtrigger.Delete,
                condition=pgtrigger.Q(old__status__in=["active", "retired"]),
            ),
        ]

    def __str__(self) -> str:
        return f"policy v{self.number} ({self.status})"


class Verdict(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"


class PolicyDecision(models.Model):
    """One `decide` answer with exactly what the evaluator saw, so it can be replayed against a draft."""

    append_only = True

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField()  # the decision_id answered to the gateway; time-ordered (its time is decided_at)
    decided_at = models.DateTimeField()
    gateway = models.ForeignKey(Gateway, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False)
    identity = models.ForeignKey(
        Identity, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    token_jti = models.CharField(max_length=64, blank=True)
    task = models.ForeignKey(
        Task, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    act_chain = ArrayField(models.CharField(max_length=2048), default=list)
    tool_key = models.CharField(max_length=200)
    action = models.CharField(max_length=10)
    resource = models.JSONField(default=dict)
    evaluated = models.JSONField(default=dict)  # {"entities": [...], "request": {...}}; {} when nothing was
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    decision = models.CharField(max_length=5, choices=Verdict.choices)
    reasons = ArrayField(models.CharField(max_length=100), default=list)
    latency_us = models.PositiveIntegerField()
    # The W3C traceparent the gateway passed on (agentiam.tracecontext): the trace this call belongs to and the
    # caller's span, so the decision stands in its chain beside the spans the agent exported. "" when none.
    trace_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    span_id = models.CharField(max_length=16, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            models.Index(fields=["identity", "decided_at"], name="runtime_decision_identity_idx"),
            models.Index(fields=["uuid"], name="runtime_decision_uuid_idx"),
            models.Index(
                fields=["trace_id", "decided_at"], name="runtime_decision_trace_idx", condition=~Q(trace_id="")
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="runtime_policy_decision_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.tool_key}:{self.action}"

    @property
    def latency_ms(self) -> float:
        return self.latency_us / 1000
