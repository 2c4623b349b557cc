"""Break-glass and approval-rule changes: the two things of reviews a person does to themself or to everyone,
so the database holds their separation of duties whatever code writes the rows.

- `BreakGlass`: an owner's emergency self-grant on one identity, bound to a task, capped at an hour, at most
  one active per identity, and closed after the fact by someone who is neither its person nor an owner.
- `ApprovalRuleChange`: a proposed create / edit / disable of an ApprovalRule, applied only by a second
  administrator (never its author).

Imported by reviews.models, so Django finds them there."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

__all__ = ["BREAK_GLASS_MAX_SECONDS", "ApprovalRuleChange", "BreakGlass", "ChangeKind", "ChangeState"]

BREAK_GLASS_MAX_SECONDS = 3600  # the ceiling; REVIEWS_BREAK_GLASS_MAX_SECONDS may only lower it


# Closing is what separation of duties is about: the closer is neither the person who broke the glass nor a
# current owner of the identity; a closed record never changes again, but for a later break-glass marking it
# superseded (once) when its grant is over.
BREAK_GLASS_CLOSE = pgtrigger.Trigger(
    name="reviews_breakglass_closer",
    operation=pgtrigger.Update,
    when=pgtrigger.Before,
    func="""
        IF OLD.superseded_at IS NOT NULL AND NEW.superseded_at IS DISTINCT FROM OLD.superseded_at THEN
            RAISE EXCEPTION 'a superseded break-glass stays superseded' USING ERRCODE = '23514';
        END IF;
        IF OLD.closed_at IS NOT NULL
           AND (to_jsonb(NEW) - 'superseded_at') IS DISTINCT FROM (to_jsonb(OLD) - 'superseded_at') THEN
            RAISE EXCEPTION 'a closed break-glass review never changes' USING ERRCODE = '23514';
        END IF;
        IF NEW.closed_by_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM identities_ownership o
                 WHERE o.identity_id = NEW.identity_id AND o.person_id = NEW.closed_by_id
                   AND o.valid_from <= clock_timestamp()
                   AND (o.valid_to IS NULL OR o.valid_to > clock_timestamp())) THEN
            RAISE EXCEPTION 'an owner of the identity may not close its break-glass review' USING ERRCODE = '23514';
        END IF;
        IF NEW.identity_id IS DISTINCT FROM OLD.identity_id OR NEW.person_id IS DISTINCT FROM OLD.person_id
           OR NEW.grant_id IS DISTINCT FROM OLD.grant_id OR NEW.reason IS DISTINCT FROM OLD.reason
           OR NEW.started_at IS DISTINCT FROM OLD.started_at OR NEW.ends_at IS DISTINCT FROM OLD.ends_at THEN
            RAISE EXCEPTION 'what a break-glass granted never changes' USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    """,
)


class BreakGlass(models.Model):
    """One emergency self-grant and its after-the-fact review (not a campaign item)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    identity = models.ForeignKey("identities.Identity", on_delete=models.PROTECT, related_name="break_glasses")
    task = models.ForeignKey("identities.Task", on_delete=models.PROTECT, related_name="+")
    grant = models.OneToOneField("identities.Grant", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scopes = models.JSONField(default=list)  # the sorted "tool_key:action" strings granted
    reason = models.TextField()
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Set when a later break-glass found this one's grant over (ended, expired): frees the one-active slot.
    superseded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["closed_at", "started_at"], name="reviews_breakglass_open_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["identity"], condition=Q(superseded_at__isnull=True), name="reviews_breakglass_one_active"
            ),
            models.CheckConstraint(condition=Q(reason__regex=r"\S"), name="reviews_breakglass_has_reason"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("started_at"))
                & Q(ends_at__lte=F("started_at") + timedelta(seconds=BREAK_GLASS_MAX_SECONDS)),
                name="reviews_breakglass_capped",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True, closed_by__isnull=True)
                | Q(closed_at__isnull=False, closed_by__isnull=False),
                name="reviews_breakglass_closed_by_someone",
            ),
            models.CheckConstraint(
                condition=Q(closed_by__isnull=True) | ~Q(closed_by=F("person")),
                name="reviews_breakglass_not_self_closed",
            ),
        ]
        triggers = [
            BREAK_GLASS_CLOSE,
            pgtrigger.Protect(name="reviews_breakglass_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"break-glass {self.uuid} on {self.identity_id}"


class ChangeKind(models.TextChoices):
    CREATE = "create", "Create a rule"
    EDIT = "edit", "Edit a rule"
    DISABLE = "disable", "Disable a rule"


class ChangeState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPLIED = "applied", "Applied"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ApprovalRuleChange(models.Model):
    """A change to the approval rules, proposed by one administrator and applied by another."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    rule = models.ForeignKey("reviews.ApprovalRule", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="changes")  # fmt: skip
    fields = models.JSONField(default=dict, blank=True)  # the rule's fields after the change (create, edit)
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=ChangeState.choices, default=ChangeState.PROPOSED)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="reviews_rulechange_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(kind="create", rule__isnull=True) | (~Q(kind="create") & Q(rule__isnull=False)),
                name="reviews_rulechange_names_rule",
            ),
            models.CheckConstraint(
                condition=Q(state="proposed", decided_by__isnull=True)
                | Q(state="withdrawn")
                | Q(state="applied", decided_by__isnull=False),
                name="reviews_rulechange_applied_by_someone",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="reviews_rulechange_closed_final",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__state__in=["applied", "withdrawn"]),
            ),
            pgtrigger.Protect(name="reviews_rulechange_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.rule_id or ''} ({self.state})"
