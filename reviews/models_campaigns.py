"""Review campaigns (access certification): a definition, its runs, the review items a run snapshots, the
reviewers' sign-offs and the reminders sent.

- `Campaign`: what is in scope, who reviews, the stages with their no-answer outcomes, duration, reminders,
  escalation, when a comment is required, and the recurrence (a django-celery-beat PeriodicTask).
- `CampaignStage`: stage 1 reviews every item; a later stage (e.g. the manager confirms owners' keeps of
  high/critical items) reviews what the previous one selected. Each stage has its duration and no-answer outcome.
- `CampaignRun`: one launch. It freezes the definition (`definition`), the scope it resolved (`scope`), the
  statement's counts, the extraction time and a digest of the item set (IPE evidence), and records the launch's
  batch progress so a killed worker resumes where it stopped.
- `CampaignScopeEntry`: the set in scope, fixed by ONE INSERT … SELECT at launch (numbered `seq`); review items
  are then created from it in batches of `seq` ranges, so the snapshot is consistent however long batches take.
- `ReviewItem`: one entitlement (or one AgentIAM role holding, for the product's own privileged access) for one
  reviewer in one stage; unique per (run, entitlement, stage) and (run, role holder, role, stage), so re-running
  a batch creates nothing twice. Recommendation, reason and evidence are frozen at launch. Who holds, requested
  and granted the access is copied onto the item at launch, so CHECK constraints hold the separation of duties
  (`reviews_item_reviewer_*`); migration 0006's plain triggers check the copies against their sources and
  keep the frozen columns, final decisions and signed-off items unchanged.
- `ReviewerSignOff`: a reviewer's sign-off on their part of a run's stage; after it their items never change.
- `ReviewReminder`: one reminder digest per reviewer per run, stage and reminder number (idempotent sends).

Imported by reviews.models, so Django finds them there."""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

__all__ = [
    "CAMPAIGN_MAX_STAGES",
    "Campaign",
    "CampaignRun",
    "CampaignScopeEntry",
    "CampaignStage",
    "CommentRule",
    "FulfilmentStatus",
    "IndependentReviewer",
    "ItemDecision",
    "ItemState",
    "NoAnswerOutcome",
    "Recommendation",
    "Recurrence",
    "ReviewItem",
    "ReviewReminder",
    "ReviewerRule",
    "ReviewerSignOff",
    "RoutedVia",
    "RunState",
    "StageSelects",
]

CAMPAIGN_MAX_STAGES = 3
CAMPAIGN_MAX_DAYS = 365


class ReviewerRule(models.TextChoices):
    OWNER = "owner", "Accountable owner, then their manager, then the fallback group"
    MANAGER = "manager", "The accountable owner's manager, then the fallback group"
    FALLBACK = "fallback", "The fallback group only"


class IndependentReviewer(models.TextChoices):
    # Nobody certifies an entitlement they granted: on by default for write / admin / execute.
    PRIVILEGED = "privileged", "For write, admin and execute access"
    ALL = "all", "For all access"
    OFF = "off", "Off"


class CommentRule(models.TextChoices):
    ALL = "all", "Every decision"
    REVOKE = "revoke", "Revoke and reduce decisions"
    KEEP_FLAGGED = "keep_flagged", "Keeping a flagged item"
    NONE = "none", "Never (but keeping a flagged item)"


class NoAnswerOutcome(models.TextChoices):
    KEEP = "keep", "Keep the access"
    REVOKE = "revoke", "Revoke the access"
    ESCALATE = "escalate", "Escalate to the next reviewer"


class Recurrence(models.TextChoices):
    ONCE = "once", "Once"
    CRON = "cron", "On a schedule (cron)"


class StageSelects(models.TextChoices):
    ALL = "all", "Every item in scope"
    KEEPS_HIGH = "keeps_high", "Items kept in the previous stage on high or critical identities"
    KEEPS = "keeps", "Items kept in the previous stage"


class Campaign(models.Model):
    """A campaign definition. Its scope fields are ANDed; an empty list or None means "any"."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Scope: which entitlements (of which identities) are reviewed.
    identity_kinds = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    risk_tiers = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    environments = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    sensitivities = ArrayField(models.CharField(max_length=10), default=list, blank=True)  # tool sensitivity
    actions = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    systems = models.ManyToManyField("identities.System", blank=True, related_name="+")
    tools = models.ManyToManyField("identities.Tool", blank=True, related_name="+")
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")  # accountable owner
    standing_only = models.BooleanField(default=False)
    unused_days = models.PositiveSmallIntegerField(null=True, blank=True)  # only entitlements unused N days
    outside_acceptable_use = models.BooleanField(default=False)  # only entitlements outside the AUP
    include_entitlements = models.BooleanField(default=True)
    # AgentIAM's own privileged access: the holders of these roles are reviewed too (one item per holding).
    privileged_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Who reviews.
    reviewer_rule = models.CharField(max_length=10, choices=ReviewerRule.choices, default=ReviewerRule.OWNER)
    fallback_group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    independent_reviewer = models.CharField(
        max_length=10, choices=IndependentReviewer.choices, default=IndependentReviewer.PRIVILEGED
    )
    # Cadence.
    reminder_days = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)  # days before due
    escalate_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    comment_required = models.CharField(max_length=12, choices=CommentRule.choices, default=CommentRule.KEEP_FLAGGED)
    recurrence = models.CharField(max_length=5, choices=Recurrence.choices, default=Recurrence.ONCE)
    cron = models.CharField(max_length=100, blank=True)  # five fields: minute hour day-of-month month day-of-week
    timezone = models.CharField(max_length=64, default="UTC")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="reviews_campaign_named"),
            models.CheckConstraint(
                condition=Q(recurrence="once", cron="") | (Q(recurrence="cron") & ~Q(cron="")),
                name="reviews_campaign_cron_iff_recurring",
            ),
            models.CheckConstraint(
                condition=Q(unused_days__isnull=True) | Q(unused_days__gte=1, unused_days__lte=3650),
                name="reviews_campaign_unused_days_sane",
            ),
            models.CheckConstraint(
                condition=Q(escalate_after_days__isnull=True)
                | Q(escalate_after_days__gte=1, escalate_after_days__lte=CAMPAIGN_MAX_DAYS),
                name="reviews_campaign_escalation_sane",
            ),
            models.CheckConstraint(
                condition=~Q(reviewer_rule="fallback") | Q(fallback_group__isnull=False),
                name="reviews_campaign_fallback_rule_has_group",
            ),
            models.CheckConstraint(
                condition=Q(include_entitlements=True) | ~Q(privileged_roles=[]),
                name="reviews_campaign_reviews_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStage(models.Model):
    """Stage `number` of a campaign (1 first). Its deadline is its start plus `duration_days`."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="stages")
    number = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100, blank=True)
    reviewer_rule = models.CharField(max_length=10, choices=ReviewerRule.choices, default=ReviewerRule.OWNER)
    selects = models.CharField(max_length=12, choices=StageSelects.choices, default=StageSelects.ALL)
    duration_days = models.PositiveSmallIntegerField(default=14)
    no_answer_outcome = models.CharField(max_length=10, choices=NoAnswerOutcome.choices, default=NoAnswerOutcome.KEEP)

    class Meta:
        ordering = ["campaign", "number"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="reviews_stage_number_unique"),
            models.CheckConstraint(
                condition=Q(number__gte=1, number__lte=CAMPAIGN_MAX_STAGES), name="reviews_stage_number_range"
            ),
            models.CheckConstraint(
                condition=Q(number=1, selects="all") | (Q(number__gt=1) & ~Q(selects="all")),
                name="reviews_stage_selects_by_number",
            ),
            models.CheckConstraint(
                condition=Q(duration_days__gte=1, duration_days__lte=CAMPAIGN_MAX_DAYS),
                name="reviews_stage_duration_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"stage {self.number} of {self.campaign_id}"


class RunState(models.TextChoices):
    LAUNCHING = "launching", "Launching"  # the set is fixed (or being fixed) and items are being created
    OPEN = "open", "Open"  # items created; reviewers at work
    CLOSED = "closed", "Closed"  # signed off by a compliance officer; the report is frozen
    CANCELLED = "cancelled", "Cancelled"


class CampaignRun(models.Model):
    """One launch of a campaign; what the auditors call IPE lives here (scope, counts, time, digest)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="runs")
    number = models.PositiveIntegerField()  # 1, 2, … per campaign
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.LAUNCHING)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # None: launched by its schedule
    launched_at = models.DateTimeField()
    # The definition as it was at launch (scope, reviewer rule, stages, comment rule, cadence): a running
    # campaign never changes under its reviewers when its definition is edited.
    definition = models.JSONField(default=dict)
    scope = models.JSONField(default=dict)  # the scope resolved (ids, keys) as the statement used it
    scope_sql = models.TextField(blank=True)  # the statement that fixed the set, with its parameters
    extracted_at = models.DateTimeField(null=True, blank=True)  # when the set was fixed (statement time)
    counts = models.JSONField(default=dict)  # the statement's counts: entries, entitlements, identities, roles…
    item_digest = models.CharField(max_length=64, blank=True)  # sha256 over the set's sorted keys
    # Launch progress: entries 1..total are fixed; items exist for every entry with seq <= processed.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    launch_task_id = models.CharField(max_length=64, blank=True)
    launch_heartbeat_at = models.DateTimeField(null=True, blank=True)
    launch_error = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    stage = models.PositiveSmallIntegerField(default=1)  # the stage in progress
    stage_started_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # the current stage's deadline
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    sign_off_note = models.TextField(blank=True)
    report = models.JSONField(null=True, blank=True)  # frozen at sign-off
    report_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-launched_at"]
        indexes = [models.Index(fields=["state", "due_at"], name="reviews_run_state_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="reviews_run_number_unique"),
            models.UniqueConstraint(
                fields=["campaign"], condition=Q(state="launching"), name="reviews_run_one_launching"
            ),
            models.CheckConstraint(condition=Q(processed__lte=F("total")), name="reviews_run_progress_bounded"),
            models.CheckConstraint(
                condition=~Q(state="open")
                | Q(extracted_at__isnull=False, opened_at__isnull=False) & ~Q(item_digest="") & Q(processed=F("total")),
                name="reviews_run_open_is_complete",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state="closed", signed_off_by__isnull=False, signed_off_at__isnull=False, report__isnull=False)
                    | (~Q(state="closed") & Q(signed_off_by__isnull=True, signed_off_at__isnull=True))
                ),
                name="reviews_run_closed_is_signed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} run {self.number} ({self.state})"

    @property
    def progress_percent(self) -> int:
        if self.state != RunState.LAUNCHING:
            return 100
        return int(100 * self.processed / self.total) if self.total else 0


class CampaignScopeEntry(models.Model):
    """One member of a run's set in scope, numbered 1..total by the one statement that fixed the set."""

    append_only = True  # db_grants gives the app role INSERT and SELECT only

    id = models.BigAutoField(primary_key=True)
    # No foreign-key constraint on run and entitlement (a launch inserts a million entries; a per-row key check
    # took most of the extraction): runs and entitlements are never deleted (plain triggers and db_grants), and
    # reviews 0009's statement trigger checks each inserted batch set-wise that both exist. See
    # docs/architecture.md, "Launching a campaign".
    run = models.ForeignKey(
        CampaignRun, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    seq = models.PositiveIntegerField()
    entitlement = models.ForeignKey(
        "identities.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    role_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    role = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="reviews_scope_entry_seq_unique"),
            models.CheckConstraint(
                condition=Q(entitlement__isnull=False, role_holder__isnull=True, role="")
                | (Q(entitlement__isnull=True, role_holder__isnull=False) & ~Q(role="")),
                name="reviews_scope_entry_one_subject",
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="reviews_scope_entry_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq}"


class Recommendation(models.TextChoices):
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
    NONE = "none", "No recommendation"


class ItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    DECIDED = "decided", "Decided"
    FULFILLED = "fulfilled", "Fulfilled"
    FAILED = "failed", "Failed"


class ItemDecision(models.TextChoices):
    # What a reviewer may ask for; `reassign` hands the item on (it stays pending) and is never stored.
    CERTIFY = "certify", "Certify"
    REVOKE = "revoke", "Revoke"
    REDUCE = "reduce", "Reduce"
    REASSIGN = "reassign", "Reassign"


class DecidedVia(models.TextChoices):
    NONE = "", "—"
    REVIEWER = "reviewer", "The reviewer"
    NO_ANSWER = "no_answer", "The no-answer outcome"
    ELSEWHERE = "elsewhere", "Revoked elsewhere during the campaign"


class RoutedVia(models.TextChoices):
    OWNER = "owner", "Accountable owner"
    MANAGER = "manager", "Owner's manager"
    FALLBACK = "fallback", "Fallback group"
    REASSIGNED = "reassigned", "Reassigned"
    ESCALATED = "escalated", "Escalated"
    REROUTED = "rerouted", "Re-routed (reviewer left)"
    UNROUTED = "unrouted", "Nobody eligible"


class FulfilmentStatus(models.TextChoices):
    NONE = "", "Nothing to do"
    PENDING = "pending", "Pending"
    AWAITING_ADMIN = "awaiting_admin", "Awaiting an administrator"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReviewItem(models.Model):
    """One thing to attest (an entitlement, or a person's AgentIAM role) for one reviewer in one stage."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # run, entitlement and identity carry no foreign-key constraint (a per-row key check cost a launch of a million
    # items minutes): they are frozen at launch (plain trigger), their sources are never deleted (runs and
    # entitlements: plain triggers and db_grants; the identity is the entitlement's own, whose foreign key holds
    # it), and reviews 0009's statement trigger checks every inserted batch set-wise. PROTECT still binds the ORM.
    run = models.ForeignKey(
        CampaignRun, on_delete=models.PROTECT, related_name="items", db_index=False, db_constraint=False
    )
    stage = models.PositiveSmallIntegerField(default=1)
    seq = models.PositiveIntegerField()  # the scope entry it came from
    entitlement = models.ForeignKey(
        "identities.Entitlement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_items",
        db_constraint=False,
    )
    identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="review_items",
        db_index=False,
        db_constraint=False,
    )
    role_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    role = models.CharField(max_length=32, blank=True)
    # Copied at launch (and checked against their sources by a trigger) so CHECKs can hold separation of duties.
    holder_person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # the person of a human identity, or the role holder
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # who asked for a JIT entitlement (its elevation request)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    independent = models.BooleanField(default=False)  # the granter may not certify it either
    # A later stage's item: who kept it in the stage before (None at stage 1, or kept by the no-answer outcome);
    # they never confirm their own keep (a CHECK; migration 0009 checks the copy against that item).
    prior_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # None: nobody eligible was found (shown as unrouted; escalation picks it up)
    routed_via = models.CharField(max_length=10, choices=RoutedVia.choices)
    reassigned_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reassign_note = models.TextField(blank=True)
    due_at = models.DateTimeField()
    # Frozen at launch: what we recommend and why, with the values it was computed from.
    recommendation = models.CharField(max_length=6, choices=Recommendation.choices)
    reasons = ArrayField(models.CharField(max_length=32), default=list, blank=True)  # codes, first is the main one
    reason = models.TextField(blank=True)  # the sentence shown beside the recommendation
    flagged = models.BooleanField(default=False)
    evidence = models.JSONField(default=dict)  # last_used_at, usage_source, days_unused, in_aup, tier, …
    # The decision.
    state = models.CharField(max_length=10, choices=ItemState.choices, default=ItemState.PENDING)
    decision = models.CharField(max_length=8, choices=ItemDecision.choices, blank=True)
    decided_via = models.CharField(max_length=10, choices=DecidedVia.choices, blank=True)
    reduce_scope = models.JSONField(null=True, blank=True)  # reduce: the narrower scope
    reduce_jit_only = models.BooleanField(default=False)  # reduce: standing ends, an eligibility is created
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    bulk = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    signed_off_at = models.DateTimeField(null=True, blank=True)  # the reviewer signed off their part
    # Fulfilment of a revoke or reduce (an outbox row does the work; this is its status).
    fulfilment_status = models.CharField(max_length=14, choices=FulfilmentStatus.choices, blank=True)
    fulfilment_error = models.TextField(blank=True)
    fulfilment_attempts = models.PositiveSmallIntegerField(default=0)
    fulfilment_next_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # the administrator who completed a pending privileged reduce
    replacement = models.ForeignKey(
        "identities.Entitlement", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # the narrower entitlement a reduce created
    eligibility = models.ForeignKey(
        "reviews.Eligibility", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # what "JIT only" created

    class Meta:
        indexes = [
            models.Index(fields=["run", "seq"], name="reviews_item_run_seq_idx"),
            models.Index(fields=["reviewer", "state", "run"], name="reviews_item_reviewer_idx"),
            models.Index(fields=["run", "state", "due_at"], name="reviews_item_run_state_idx"),
            models.Index(fields=["identity", "run"], name="reviews_item_identity_idx"),
            models.Index(
                fields=["fulfilment_status", "fulfilment_next_at"],
                condition=Q(fulfilment_status__in=["pending", "failed"]),
                name="reviews_item_fulfil_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "entitlement", "stage"],
                condition=Q(entitlement__isnull=False),
                name="reviews_item_one_per_entitlement",
            ),
            models.UniqueConstraint(
                fields=["run", "role_holder", "role", "stage"],
                condition=Q(role_holder__isnull=False),
                name="reviews_item_one_per_role_holding",
            ),
            models.CheckConstraint(
                condition=Q(entitlement__isnull=False, identity__isnull=False, role_holder__isnull=True, role="")
                | (Q(entitlement__isnull=True, identity__isnull=True, role_holder=F("holder_person")) & ~Q(role="")),
                name="reviews_item_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(stage__gte=1, stage__lte=CAMPAIGN_MAX_STAGES), name="reviews_item_stage"
            ),
            # Separation of duties: nobody certifies access they hold or requested, nor (independent) granted.
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) | Q(holder_person__isnull=True) | ~Q(reviewer=F("holder_person")),
                name="reviews_item_reviewer_not_holder",
            ),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) | Q(requested_by__isnull=True) | ~Q(reviewer=F("requested_by")),
                name="reviews_item_reviewer_not_requester",
            ),
            models.CheckConstraint(
                condition=Q(independent=False)
                | Q(reviewer__isnull=True)
                | Q(granted_by__isnull=True)
                | ~Q(reviewer=F("granted_by")),
                name="reviews_item_reviewer_not_granter",
            ),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True)
                | Q(prior_decided_by__isnull=True)
                | ~Q(reviewer=F("prior_decided_by")),
                name="reviews_item_reviewer_not_prior",
            ),
            models.CheckConstraint(
                condition=Q(stage__gt=1) | Q(prior_decided_by__isnull=True), name="reviews_item_prior_only_later"
            ),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True, routed_via="unrouted")
                | (Q(reviewer__isnull=False) & ~Q(routed_via="unrouted")),
                name="reviews_item_routed",
            ),
            # The state and what it implies.
            models.CheckConstraint(
                condition=Q(state="pending", decision="", decided_via="", decided_at__isnull=True)
                | (
                    Q(state__in=["decided", "fulfilled", "failed"], decided_at__isnull=False)
                    & (
                        Q(decision__in=["certify", "revoke", "reduce"]) & ~Q(decided_via="elsewhere")
                        | Q(decision="", decided_via="elsewhere", state="fulfilled")
                    )
                ),
                name="reviews_item_state_consistent",
            ),
            models.CheckConstraint(
                condition=~Q(decided_via="reviewer") | Q(decided_by=F("reviewer")),
                name="reviews_item_decided_by_reviewer",
            ),
            models.CheckConstraint(
                condition=~Q(decided_via="no_answer") | Q(decided_by__isnull=True),
                name="reviews_item_no_answer_by_nobody",
            ),
            models.CheckConstraint(
                condition=~Q(decision="reduce") | Q(reduce_jit_only=True) | Q(reduce_scope__isnull=False),
                name="reviews_item_reduce_says_how",
            ),
            models.CheckConstraint(
                condition=Q(decision="reduce") | Q(reduce_jit_only=False, reduce_scope__isnull=True),
                name="reviews_item_reduce_only_on_reduce",
            ),
            models.CheckConstraint(
                condition=~Q(state="fulfilled")
                | Q(decision="certify")
                | Q(fulfilment_status="done")
                | Q(decided_via="elsewhere"),
                name="reviews_item_fulfilled_is_done",
            ),
            models.CheckConstraint(
                condition=Q(signed_off_at__isnull=True) | ~Q(state="pending"),
                name="reviews_item_signed_off_is_decided",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.uuid} ({self.state})"


class ReviewerSignOff(models.Model):
    """A reviewer signed off their part of a run's stage: their items there never change again."""

    append_only = True  # db_grants gives the app role INSERT and SELECT only

    run = models.ForeignKey(CampaignRun, on_delete=models.PROTECT, related_name="sign_offs")
    stage = models.PositiveSmallIntegerField(default=1)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_off_at = models.DateTimeField()
    items = models.PositiveIntegerField()  # how many items the sign-off covered
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "stage", "reviewer"], name="reviews_signoff_once"),
        ]
        triggers = [
            pgtrigger.Protect(name="reviews_signoff_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} signed off {self.run_id} stage {self.stage}"


class ReviewReminder(models.Model):
    """Reminder `number` (an index into the definition's reminder days, or an escalation notice) sent to one
    reviewer for one run and stage: inserting it claims the send, so a duplicate delivery sends nothing."""

    append_only = True

    class Kind(models.TextChoices):
        LAUNCH = "launch", "Campaign opened"
        REMINDER = "reminder", "Reminder"
        ESCALATION = "escalation", "Escalation"

    run = models.ForeignKey(CampaignRun, on_delete=models.PROTECT, related_name="reminders")
    stage = models.PositiveSmallIntegerField(default=1)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    number = models.PositiveSmallIntegerField(default=0)
    items = models.PositiveIntegerField()  # pending items the digest named
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "stage", "reviewer", "kind", "number"], name="reviews_reminder_once"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="reviews_reminder_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.number} to {self.reviewer_id} for {self.run_id}"
