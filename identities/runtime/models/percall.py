"""Per-call re-authorisation: which identities (or risk tiers) must have each write, admin or execute call
approved by a person, and the one-shot authorisations those approvals are.

`decide` reads `PerCallMode` in its one lookup and, for an identity in the mode, opens or consumes a
`CallAuthorisation` in one more statement (identities.runtime.services.percall). Reviews decides them
(reviews.services.calls) through the runtime's public service; the database repeats what it can of the
separation of duties and keeps the state moving forward only.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q

from identities.models import Identity, RiskTier, Task, Tool
from identities.runtime.models.config import ConfigRow, Gateway

__all__ = [
    "APPROVAL_WINDOW_SECONDS",
    "PENDING_SECONDS",
    "REAUTHORISED_ACTIONS",
    "CallAuthorisation",
    "CallState",
    "PerCallMode",
]

REAUTHORISED_ACTIONS = ("write", "admin", "execute")
APPROVAL_WINDOW_SECONDS = 300  # an approval allows one matching call within 5 minutes
PENDING_SECONDS = 600  # a request nobody answers lapses; the next matching call asks again


class PerCallMode(ConfigRow):
    """ "Re-authorise each write/admin/execute call" for one identity, or for every identity of a risk tier.
    Disabled, never deleted, like the rest of the runtime's configuration."""

    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(identity__isnull=False) & Q(risk_tier="")) | (Q(identity__isnull=True) & ~Q(risk_tier="")),
                name="runtime_percall_identity_or_tier",
            ),
            models.UniqueConstraint(
                fields=["identity"], condition=Q(disabled_at__isnull=True, identity__isnull=False),
                name="runtime_percall_one_per_identity",
            ),
            models.UniqueConstraint(
                fields=["risk_tier"], condition=Q(disabled_at__isnull=True) & ~Q(risk_tier=""),
                name="runtime_percall_one_per_tier",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"identity {self.identity}" if self.identity_id else f"{self.get_risk_tier_display()} tier"


class CallState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CONSUMED = "consumed", "Used"


# The separation of duties the database can check whatever code decided: never the identity's own person,
# never a current owner of it, only an active manager; and a state that only moves forward.
CALL_DECISION_GUARD = pgtrigger.Trigger(
    name="runtime_call_decision_guard",
    operation=pgtrigger.Update,
    when=pgtrigger.Before,
    func="""
        IF OLD.state IN ('denied', 'consumed') AND (NEW IS DISTINCT FROM OLD) THEN
            RAISE EXCEPTION 'a % call authorisation never changes', OLD.state USING ERRCODE = '23514';
        END IF;
        IF OLD.state = 'approved' AND NEW.state NOT IN ('approved', 'consumed') THEN
            RAISE EXCEPTION 'an approved call authorisation can only be used' USING ERRCODE = '23514';
        END IF;
        IF OLD.state = 'approved' AND (NEW.decided_by_id IS DISTINCT FROM OLD.decided_by_id
                                       OR NEW.valid_until IS DISTINCT FROM OLD.valid_until) THEN
            RAISE EXCEPTION 'an approval is not rewritten' USING ERRCODE = '23514';
        END IF;
        IF OLD.state = 'pending' AND NEW.state = 'consumed' THEN
            RAISE EXCEPTION 'a pending call authorisation cannot be used' USING ERRCODE = '23514';
        END IF;
        IF OLD.state = 'pending' AND NEW.state IN ('approved', 'denied') THEN
            IF NEW.decided_by_id IS NULL THEN
                RAISE EXCEPTION 'a decision names who decided' USING ERRCODE = '23514';
            END IF;
            IF EXISTS (SELECT 1 FROM identities_identity i
                        WHERE i.id IN (NEW.identity_id, NEW.actor_id) AND i.person_id = NEW.decided_by_id) THEN
                RAISE EXCEPTION 'nobody decides calls made as themselves' USING ERRCODE = '23514';
            END IF;
            IF EXISTS (SELECT 1 FROM identities_ownership o
                        WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.decided_by_id
                          AND o.valid_from <= clock_timestamp()
                          AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN
                RAISE EXCEPTION 'an owner of the identity may not decide its calls' USING ERRCODE = '23514';
            END IF;
            IF NOT EXISTS (SELECT 1 FROM auth_user u WHERE u.id = NEW.decided_by_id AND u.is_active) THEN
                RAISE EXCEPTION 'only an active person decides' USING ERRCODE = '23514';
            END IF;
        END IF;
        RETURN NEW;
    """,
)


class CallAuthorisation(models.Model):
    """One call's request for approval (the AuthZEN access request), and, once approved, the one decision
    it allows: same identity, task, tool, action and resource-attribute digest, within 5 minutes of approval,
    consumed by a conditional UPDATE so two concurrent calls cannot both use it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="+")
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="+")
    tool_key = models.CharField(max_length=200)
    action = models.CharField(max_length=10)
    resource = models.JSONField(default=dict)
    resource_digest = models.CharField(max_length=64)  # sha256 of the canonical resource attributes
    evaluation_id = models.UUIDField()  # the decision that opened it
    state = models.CharField(max_length=10, choices=CallState.choices, default=CallState.PENDING)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()  # the request lapses unanswered
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)  # approval + 5 minutes
    consumed_at = models.DateTimeField(null=True, blank=True)
    consumed_decision = models.UUIDField(null=True, blank=True)  # the allowed decision

    class Meta:
        indexes = [
            models.Index(fields=["state", "expires_at"], name="runtime_call_state_idx"),
            models.Index(fields=["identity", "state"], name="runtime_call_identity_idx"),
            models.Index(fields=["decided_at"], name="runtime_call_decided_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "task", "tool_key", "action", "resource_digest"], condition=Q(state="pending"),
                nulls_distinct=False, name="runtime_call_one_pending",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["approved", "consumed"])
                | Q(decided_by__isnull=False, decided_at__isnull=False, valid_until__isnull=False),
                name="runtime_call_approved_has_window",
            ),
            models.CheckConstraint(
                condition=~Q(state="consumed") | Q(consumed_at__isnull=False, consumed_at__lt=models.F("valid_until")),
                name="runtime_call_consumed_in_window",
            ),
        ]  # fmt: skip
        triggers = [
            CALL_DECISION_GUARD,
            pgtrigger.Protect(name="runtime_call_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.tool_key}:{self.action} ({self.state})"
