"""A campaign's later stages (e.g. the manager confirms the owners' keeps of high/critical items).

Stage 1 reviews every item in scope. A later stage, when the frozen definition has one, reviews what the stage
before kept (`selects`: every keep, or keeps on high/critical identities — AgentIAM's own role holdings count as
high), with its own reviewer rule, duration and no-answer outcome. An item moves on — a new ReviewItem of the
next stage for the same scope entry, routed along that stage's reviewer chain — when its keep can no longer
change:

- **at the reviewer's sign-off** of their part (their kept items move on at once: the manager need not wait for
  every owner);
- **at the stage's deadline**, after its no-answer outcome (a no-answer keep moves on too: nobody looked at it);
- **when decided after its stage is over** (an item the deadline escalated, answered late).

The run itself moves to the next stage (its `stage`, `stage_started_at`, `due_at`) at the deadline, or earlier
once nothing of the stage can change (every item final or signed off). The next stage's deadline is planned:
the stage before's deadline plus its duration (an item moved on late gets at least its stage's duration).

Separation of duties as in stage 1 (the holder, the requester, in an independent item the granter never review
it; an identity never reviews itself), and nobody confirms their own keep (`prior_decided_by`, a CHECK).
Every move is an INSERT guarded by the unique (run, entitlement or role holding, stage) constraint, under the
run's row lock where the run moves: a duplicate delivery, a second beat or a restarted beat moves nothing twice.
The callers (sign-off, decision, cadence) write the audit entries, in their transactions."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from reviews.models_campaigns import (
    CampaignRun,
    DecidedVia,
    ItemDecision,
    ItemState,
    ReviewItem,
    RoutedVia,
    StageSelects,
)
from reviews.services.routing import Chain, next_reviewer

__all__ = [
    "HIGH_TIERS",
    "awaiting_next_stage",
    "next_stage_due",
    "run_advance",
    "stage_complete",
    "stage_count",
    "stage_settings",
    "stages_move_on",
]

HIGH_TIERS = ("high", "critical")


def stage_settings(run: CampaignRun, number: int) -> dict | None:
    """Stage `number` as frozen at launch (None: the definition has no such stage)."""
    for stage in (run.definition or {}).get("stages") or []:
        if isinstance(stage, dict) and stage.get("number") == number:
            return stage
    return None


def stage_count(run: CampaignRun) -> int:
    return max([1] + [s.get("number", 1) for s in (run.definition or {}).get("stages") or [] if isinstance(s, dict)])


def _kept_and_selected(stage: dict) -> Q:
    """What a later stage reviews of the stage before: its keeps (by a reviewer or the no-answer outcome)."""
    kept = Q(decision=ItemDecision.CERTIFY, state__in=[ItemState.DECIDED, ItemState.FULFILLED])
    if stage.get("selects") == StageSelects.KEEPS_HIGH:
        kept &= Q(evidence__risk_tier__in=list(HIGH_TIERS)) | Q(role_holder__isnull=False)
    return kept


def _fallback_group_id(run: CampaignRun) -> int | None:
    value = (run.definition or {}).get("fallback_group")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def next_stage_due(run: CampaignRun, number: int, now: datetime) -> datetime:
    """The deadline of stage `number` (> 1) for an item moving into it now: planned from the run's current
    deadline while the run is in the stage before or in it, and at least the stage's duration from now."""
    days = timedelta(days=int(stage_settings(run, number).get("duration_days") or 14))
    if run.stage == number - 1 and run.due_at is not None:
        planned = run.due_at + days
    elif run.stage == number and run.due_at is not None:
        planned = run.due_at
    else:
        planned = now + days
    return planned if planned > now else now + days


def stages_move_on(*, run: CampaignRun, from_stage: int, now: datetime, where: Q | None = None) -> Counter:
    """Move the kept items of `from_stage` (those `where` selects) that the next stage reviews and that have not
    moved yet into it. Returns items per new reviewer (None: nobody eligible, shown unrouted)."""
    stage = stage_settings(run, from_stage + 1)
    if stage is None:
        return Counter()
    moved_already = ReviewItem.objects.filter(run_id=run.pk, stage=from_stage + 1, seq=OuterRef("seq"))
    source = (
        ReviewItem.objects.filter(where or Q(), run_id=run.pk, stage=from_stage)
        .filter(_kept_and_selected(stage))
        .exclude(Exists(moved_already))
        .select_related("decided_by")
        .order_by("seq")
    )
    chain = Chain(fallback_group_id=_fallback_group_id(run), rule=stage.get("reviewer_rule") or "manager")
    due = next_stage_due(run, from_stage + 1, now)
    new, per_reviewer = [], Counter()
    for kept in source:
        item = ReviewItem(
            run_id=run.pk, stage=from_stage + 1, seq=kept.seq, entitlement_id=kept.entitlement_id,
            identity_id=kept.identity_id, role_holder_id=kept.role_holder_id, role=kept.role,
            holder_person_id=kept.holder_person_id, requested_by_id=kept.requested_by_id,
            granted_by_id=kept.granted_by_id, independent=kept.independent, prior_decided_by_id=kept.decided_by_id,
            due_at=due, recommendation=kept.recommendation, reasons=kept.reasons, reason=kept.reason,
            flagged=kept.flagged,
            evidence={**(kept.evidence or {}), "previous_stage": {
                "stage": from_stage, "decision": kept.decision, "decided_via": kept.decided_via,
                "decided_by": kept.decided_by_id,
                "decided_by_name": kept.decided_by.get_full_name() or kept.decided_by.get_username()
                if kept.decided_by_id else "",
                "decided_at": kept.decided_at.isoformat() if kept.decided_at else None, "comment": kept.comment,
            }},
        )  # fmt: skip
        found = next_reviewer(item, chain, beyond=-1)
        item.reviewer_id, item.routed_via = found or (None, RoutedVia.UNROUTED)
        new.append(item)
        per_reviewer[item.reviewer_id] += 1
    if new:
        ReviewItem.objects.bulk_create(new, ignore_conflicts=True)
    return per_reviewer


def stage_complete(run: CampaignRun) -> bool:
    """Nothing of the run's current stage can change any more: every item final or signed off."""
    open_work = Q(state=ItemState.PENDING) | Q(
        decision=ItemDecision.CERTIFY, decided_via=DecidedVia.REVIEWER, signed_off_at__isnull=True
    )
    return not ReviewItem.objects.filter(open_work, run_id=run.pk, stage=run.stage).exists()


def run_advance(*, run: CampaignRun, now: datetime, at_deadline_too: bool = True) -> dict:
    """Move a run (row-locked by the caller) into its next stage if it has one and the current stage is over (its
    deadline passed, or nothing of it can change): its remaining keeps move on, then the run. {} when not.
    Only the cadence passes a deadline (`at_deadline_too`): it applies the stage's no-answer outcome first."""
    number = run.stage
    if stage_settings(run, number + 1) is None or run.due_at is None:
        return {}
    at_deadline = at_deadline_too and now >= run.due_at
    if not at_deadline and not stage_complete(run):
        return {}
    moved = stages_move_on(run=run, from_stage=number, now=now)
    due = next_stage_due(run, number + 1, now)
    started = run.due_at if at_deadline else now
    if not CampaignRun.objects.filter(pk=run.pk, stage=number).update(
        stage=number + 1, stage_started_at=started, due_at=due
    ):
        return {}
    run.stage, run.stage_started_at, run.due_at = number + 1, started, due
    return {
        "from_stage": number,
        "to_stage": number + 1,
        "why": "deadline" if at_deadline else "stage complete",
        "items_moved": sum(moved.values()),
        "due_at": due.isoformat(),
        "moved_to": {str(k): v for k, v in moved.items() if k is not None},
        "unrouted": moved.get(None, 0),
    }


def awaiting_next_stage(run: CampaignRun) -> int:
    """Kept items that a later stage of this run will still review but that have not moved on yet."""
    count = 0
    for number in range(1, stage_count(run)):
        stage = stage_settings(run, number + 1)
        if stage is None:
            continue
        moved = ReviewItem.objects.filter(run_id=run.pk, stage=number + 1, seq=OuterRef("seq"))
        count += (
            ReviewItem.objects.filter(run_id=run.pk, stage=number)
            .filter(_kept_and_selected(stage))
            .exclude(Exists(moved))
            .count()
        )
    return count
