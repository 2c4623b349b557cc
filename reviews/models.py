"""JIT elevation: requests, approvals, the rules that say how many approvals a request needs, delegations
while an approver is away, and eligibility ("this identity may ask for this, under lighter rules").

A request points to the grant it produced (identities.Grant); the grant knows nothing of requests. The
database repeats the separation of duties of reviews.rules where a constraint or trigger can say it: one
decision per approver per request, never the requester, never an owner or the person of the identity, and a
request's state only moves forward from pending."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from identities.models import Action, DataClass, Environment, Grant, Identity, RiskTier, Task, Tool

__all__ = [
    "Approval",
    "ApprovalRule",
    "Decision",
    "Delegation",
    "ElevationRequest",
    "Eligibility",
    "RequestState",
    "Urgency",
]

AUTO_APPROVE_MAX_SECONDS = 3600  # an auto-approval is never long-lived (also a CHECK on ApprovalRule)


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


class Urgency(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"


class ApprovalRule(models.Model):
    """How many approvals a request needs, whether it is approved at once, and its longest duration. A blank
    condition matches anything; the enabled rule with the lowest `priority` that matches a scope applies,
    and a request of several scopes takes the strictest of their rules."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    priority = models.PositiveIntegerField(unique=True)
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, blank=True)
    tool_sensitivity = models.CharField(max_length=10, choices=RiskTier.choices, blank=True)
    data_class = models.CharField(max_length=20, choices=DataClass.choices, blank=True)
    environment = models.CharField(max_length=10, choices=Environment.choices, blank=True)
    action = models.CharField(max_length=10, choices=Action.choices, blank=True)
    production_secrets = models.BooleanField(null=True, blank=True)  # None: either
    auto_approve = models.BooleanField(default=False)
    approvals_needed = models.PositiveSmallIntegerField(default=1)
    eligible_approvals = models.PositiveSmallIntegerField(null=True, blank=True)  # when an Eligibility covers it
    max_duration_seconds = models.PositiveIntegerField()
    approver_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="approval_rules"
    )
    enabled = models.BooleanField(default=True)
    # Break-glass leaves production-secret tools out unless the rule matching them says otherwise.
    allows_break_glass = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority"]
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_approve=True, approvals_needed=0, max_duration_seconds__lte=AUTO_APPROVE_MAX_SECONDS)
                | Q(auto_approve=False, approvals_needed__gte=1, approvals_needed__lte=5),
                name="reviews_rule_approvals_sane",
            ),
            models.CheckConstraint(
                condition=Q(eligible_approvals__isnull=True)
                | Q(eligible_approvals__gte=1, eligible_approvals__lte=F("approvals_needed")),
                name="reviews_rule_eligible_lighter",
            ),
            models.CheckConstraint(condition=Q(max_duration_seconds__gt=0), name="reviews_rule_duration_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class ElevationRequest(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="elevation_requests")
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="elevation_requests")
    scopes = ArrayField(models.CharField(max_length=220))  # sorted "tool_key:action" strings
    scope = models.JSONField(default=dict, blank=True)  # the scope object asked for, {} = not narrowed
    justification = models.TextField()
    duration_seconds = models.PositiveIntegerField()
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    state = models.CharField(max_length=10, choices=RequestState.choices, default=RequestState.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by_identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # the agent asked for itself
    # Pinned at request time: the policy in force, and a digest of what is asked (identity, tools, acceptable
    # use) so a request whose inputs changed cannot be approved under other rules.
    policy_version = models.ForeignKey(
        "runtime.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    digest = models.CharField(max_length=64)
    pinned = models.JSONField(default=dict)  # what the digest covers, to say what changed
    rule = models.ForeignKey(ApprovalRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approvals_needed = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    closed_note = models.TextField(blank=True)  # why it was withdrawn, denied or expired
    grant = models.OneToOneField(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    granted_scopes = ArrayField(models.CharField(max_length=220), null=True, blank=True)
    granted_scope = models.JSONField(null=True, blank=True)
    granted_duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "expires_at"], name="reviews_request_state_idx"),
            models.Index(fields=["identity", "state"], name="reviews_request_identity_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "task", "scopes", "scope"],
                condition=Q(state="pending"),
                name="reviews_request_one_pending",
            ),
            models.CheckConstraint(
                condition=Q(requested_by__isnull=False) | Q(requested_by_identity__isnull=False),
                name="reviews_request_has_requester",
            ),
            models.CheckConstraint(condition=Q(duration_seconds__gt=0), name="reviews_request_duration_positive"),
            models.CheckConstraint(
                condition=Q(state="approved", grant__isnull=False) | (~Q(state="approved") & Q(grant__isnull=True)),
                name="reviews_request_approved_has_grant",
            ),
        ]
        triggers = [
            # pending → approved | denied | withdrawn | expired, and a closed request never changes again.
            pgtrigger.Protect(
                name="reviews_request_state_forward",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__state__in=["approved", "denied", "withdrawn", "expired"])
                & (
                    pgtrigger.Q(old__state__df=pgtrigger.F("new__state"))
                    | pgtrigger.Q(old__grant_id__df=pgtrigger.F("new__grant_id"))
                ),
            ),
            pgtrigger.Protect(name="reviews_request_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.identity_id}: {', '.join(self.scopes)} ({self.state})"


# The separation of duties the database can check on its own, whatever code wrote the row.
APPROVAL_SEPARATION = pgtrigger.Trigger(
    name="reviews_approval_separation",
    operation=pgtrigger.Insert,
    when=pgtrigger.Before,
    func="""
        SELECT r.state, r.requested_by_id, r.identity_id, i.person_id INTO asked
          FROM reviews_elevationrequest r JOIN identities_identity i ON i.id = r.identity_id
         WHERE r.id = NEW.request_id;
        IF asked.state <> 'pending' THEN
            RAISE EXCEPTION 'elevation request is %, not pending', asked.state USING ERRCODE = '23514';
        END IF;
        IF NEW.requester_id IS DISTINCT FROM asked.requested_by_id THEN
            RAISE EXCEPTION 'approval names another requester than its request' USING ERRCODE = '23514';
        END IF;
        IF NEW.approver_id = asked.person_id THEN
            RAISE EXCEPTION 'an approver may not decide access they hold' USING ERRCODE = '23514';
        END IF;
        IF EXISTS (SELECT 1 FROM identities_ownership o
                    WHERE o.identity_id = asked.identity_id AND o.person_id = NEW.approver_id
                      AND o.valid_from <= clock_timestamp()
                      AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN
            RAISE EXCEPTION 'an owner of the identity may not decide its requests' USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    """,
    declare=[("asked", "RECORD")],
)


class Approval(models.Model):
    """One approver's decision on one request: each approver decides once; any deny is final."""

    append_only = True  # db_grants gives the app role INSERT and SELECT only

    request = models.ForeignKey(ElevationRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # the request's requester, copied so a CHECK can compare it (the trigger checks the copy)
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # the approver whose delegate decided
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)
    # What this approver agreed to (never more than asked); the grant is the narrowest of the approvals.
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    scopes = ArrayField(models.CharField(max_length=220), null=True, blank=True)
    scope = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="reviews_approval_one_per_approver"),
            models.CheckConstraint(
                condition=Q(requester__isnull=True) | ~Q(approver=F("requester")),
                name="reviews_approval_not_requester",
            ),
        ]
        triggers = [
            APPROVAL_SEPARATION,
            pgtrigger.Protect(name="reviews_approval_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.approver_id} on {self.request_id}"


class Delegation(models.Model):
    """While away, `approver`'s requests are routed to `delegate` (resolved at decision time)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations")
    delegate = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["approver", "ends_at"], name="reviews_delegation_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(approver=F("delegate")), name="reviews_delegation_not_self"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="reviews_delegation_ends_after"),
        ]

    def __str__(self) -> str:
        return f"{self.approver_id} → {self.delegate_id} until {self.ends_at:%Y-%m-%d}"


class Eligibility(models.Model):
    """This identity may ask for this (tool, action and scope) under lighter rules, from/to a date."""

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="eligibilities")
    tool = models.ForeignKey(Tool, on_delete=models.PROTECT, related_name="eligibilities")
    action = models.CharField(max_length=10, choices=Action.choices)
    scope = models.JSONField(default=dict, blank=True)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    made_eligible_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "eligibilities"
        indexes = [models.Index(fields=["identity", "tool", "action"], name="reviews_eligibility_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="reviews_eligibility_ends_after",
            )
        ]

    def __str__(self) -> str:
        return f"{self.identity_id} may ask {self.tool_id}:{self.action}"


# Break-glass and approval-rule changes live in their own module (this one stays small); Django finds them here.
from reviews.models_admin import ApprovalRuleChange, BreakGlass, ChangeKind, ChangeState  # noqa: E402

__all__ += ["ApprovalRuleChange", "BreakGlass", "ChangeKind", "ChangeState"]

# Review campaigns: definitions, runs, their scope entries, review items, sign-offs and reminders.
from reviews.models_campaigns import (  # noqa: E402
    Campaign,
    CampaignRun,
    CampaignScopeEntry,
    CampaignStage,
    ReviewerSignOff,
    ReviewItem,
    ReviewReminder,
)

__all__ += [
    "Campaign",
    "CampaignRun",
    "CampaignScopeEntry",
    "CampaignStage",
    "ReviewItem",
    "ReviewReminder",
    "ReviewerSignOff",
]
