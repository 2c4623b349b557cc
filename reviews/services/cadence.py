"""What time does to an open campaign run — beat `reviews.tasks.campaign_cadence`, every REVIEWS_CAMPAIGN_TICK
seconds; every step is a state change guarded by the state it starts from, so a duplicate delivery, two beats
or a beat restarted in between change nothing twice:

1. **Revoked elsewhere**: a pending item whose entitlement was revoked by someone else (or whose role was taken
   away) counts as done (`decided_via = elsewhere`, state fulfilled).
2. **A reviewer who left** (deactivated, departed): their pending items go to the next eligible person of the
   reviewer chain (`reviews.services.routing`), `routed_via = rerouted`; unrouted items are routed as soon as
   someone eligible exists.
3. **Escalation** after the definition's `escalate_after_days` from the stage's start: each pending item not yet
   escalated moves one level up the chain (owner → manager → fallback group), once.
4. **Reminders**: for each of the definition's `reminder_days` before the deadline, ONE digest per reviewer who
   still has pending items (not one per item; nobody who is done): a `ReviewReminder` row claims each send (a
   unique constraint), and the outbox message's dedupe key repeats it.
5. **The deadline**: the stage's no-answer outcome is applied to what is still pending, once — keep (certified
   by nobody), revoke (handed to fulfilment in the same transaction), or escalate (one level up the chain; the
   item stays pending, shown overdue, until someone answers: a human decision is what "escalate" asks for).

Each run is handled in its own transaction with its row locked (SKIP LOCKED: a second beat's tick passes it
by), and one audit entry per run says what the tick changed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agentiam.notifications import email_digest
from audit import actors
from audit.trail import audit_record
from identities.models import Entitlement, PersonStatus
from reviews.models import CampaignRun, ReviewItem, ReviewReminder
from reviews.models_campaigns import DecidedVia, FulfilmentStatus, ItemDecision, ItemState, RoutedVia, RunState
from reviews.services.fulfilment import fulfilment_enqueue
from reviews.services.routing import Chain, level_of, next_reviewer
from reviews.services.stages import run_advance

__all__ = ["JOB", "campaigns_tick", "definition_value", "stage_of", "tell_stage_reviewers"]

JOB = "reviews.tasks.campaign_cadence"
DIGEST_LINES = 15  # items named in one digest; the rest are counted


def definition_value(run: CampaignRun, name: str, default=None):
    """A field of the campaign as frozen at launch (the run's `definition`), else the live definition's."""
    frozen = run.definition or {}
    if name in frozen:
        return frozen[name]
    return getattr(run.campaign, name, default)


def _fallback_group_id(run: CampaignRun) -> int | None:
    value = (run.definition or {}).get("fallback_group_id", (run.definition or {}).get("fallback_group"))
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else run.campaign.fallback_group_id


def stage_of(run: CampaignRun, number: int | None = None) -> dict:
    """The stage's frozen settings: number, reviewer rule, duration and no-answer outcome."""
    number = number or run.stage
    for stage in (run.definition or {}).get("stages") or []:
        if isinstance(stage, dict) and stage.get("number") == number:
            return {"reviewer_rule": definition_value(run, "reviewer_rule", "owner"), "no_answer_outcome": "keep",
                    **stage}  # fmt: skip
    live = run.campaign.stages.filter(number=number).first()
    return {
        "number": number,
        "reviewer_rule": live.reviewer_rule if live else definition_value(run, "reviewer_rule", "owner"),
        "no_answer_outcome": live.no_answer_outcome if live else "keep",
        "duration_days": live.duration_days if live else None,
    }


# --- links and digests -------------------------------------------------------------------------------------------


def my_reviews_link() -> str:
    for name in ("reviews:my_reviews", "reviews:my-reviews", "reviews:items"):
        try:
            return settings.NOTIFY_LINK_BASE + reverse(name)
        except NoReverseMatch:
            continue
    return settings.NOTIFY_LINK_BASE + "/reviews/my/"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _lines(run: CampaignRun, reviewer_id: int, stage: int) -> tuple[int, list[str]]:
    pending = (
        ReviewItem.objects.filter(run=run, stage=stage, state=ItemState.PENDING, reviewer_id=reviewer_id)
        .select_related("identity", "entitlement__tool", "role_holder")
        .order_by("-flagged", "identity__name", "pk")
    )
    total = pending.count()
    lines = []
    for item in pending[:DIGEST_LINES]:
        if item.entitlement_id:
            what = f"{item.identity.name}: {item.entitlement.tool.key} {item.entitlement.action}"
        else:
            what = f"AgentIAM role {item.role} of {item.role_holder.get_username()}"
        advice = {"revoke": "we recommend revoking", "keep": "we recommend keeping"}.get(item.recommendation, "")
        lines.append(what + (f" — {advice}: {item.reason[:160]}" if advice and item.reason else ""))
    if total > DIGEST_LINES:
        lines.append(f"… and {total - DIGEST_LINES} more")
    return total, lines


def _notify(run: CampaignRun, reviewer_id: int, kind: str, number: int, subject: str, intro: str,
            stage: int | None = None) -> bool:  # fmt: skip
    """One digest to the reviewer, claimed by its ReviewReminder row (a second claim sends nothing)."""
    stage = stage or run.stage
    person = get_user_model().objects.filter(pk=reviewer_id, is_active=True).first()
    count, lines = _lines(run, reviewer_id, stage)
    if person is None or not count:
        return False
    try:
        with transaction.atomic():
            ReviewReminder.objects.create(run=run, stage=stage, reviewer_id=reviewer_id, kind=kind, number=number,
                                          items=count, sent_at=timezone.now())  # fmt: skip
    except IntegrityError:
        return False  # sent already (a duplicate delivery, a restarted beat)
    try:
        validate_email(person.email)
    except Exception:  # no usable address: the claim stands, My reviews still shows the work
        return True
    email_digest(
        to=[person.email],
        subject=subject[:200],
        intro=intro,
        items=[*lines, "", f"Open My reviews (sign in first): {my_reviews_link()}"],
        dedupe_key=f"reviews.campaign:{run.uuid}:{stage}:{kind}:{number}:{reviewer_id}",
    )
    return True


def tell_stage_reviewers(run: CampaignRun, stage: int, moved: Counter) -> None:
    """One notice per reviewer when kept items first reach them in a later stage (a ReviewReminder of kind
    launch claims it: later moves into the same stage send nothing more; reminders follow the deadline)."""
    for reviewer_id in sorted(k for k in moved if k is not None):
        _notify(run, reviewer_id, ReviewReminder.Kind.LAUNCH, 0, stage=stage,
                subject=f"Access review {run.campaign.name}, stage {stage}: items kept in stage {stage - 1} wait "
                        "for your confirmation",
                intro=f"These were kept in stage {stage - 1} of {run.campaign.name}; confirm or revoke each:",
                )  # fmt: skip


# --- the steps ---------------------------------------------------------------------------------------------------


def _revoked_elsewhere(run: CampaignRun) -> int:
    pending = ReviewItem.objects.filter(run=run, state=ItemState.PENDING)
    revoked_at = Entitlement.objects.filter(pk=OuterRef("entitlement_id")).values("revoked_at")[:1]
    count = pending.filter(entitlement__revoked_at__isnull=False).update(
        state=ItemState.FULFILLED, decided_via=DecidedVia.ELSEWHERE, decided_at=Subquery(revoked_at)
    )
    holds = get_user_model().groups.through.objects.filter(user_id=OuterRef("role_holder_id"),
                                                            group__name=OuterRef("role"))  # fmt: skip
    count += (
        pending.filter(role_holder__isnull=False)
        .exclude(Exists(holds))
        .update(state=ItemState.FULFILLED, decided_via=DecidedVia.ELSEWHERE, decided_at=timezone.now())
    )
    return count


def _move(item: ReviewItem, to: int | None, via: str, now: datetime, *, escalate: bool = False) -> bool:
    """Hand a pending item to `to` (None: nobody), if nobody decided or moved it meanwhile."""
    columns = {"reviewer_id": to, "routed_via": via if to is not None else RoutedVia.UNROUTED}
    if item.reviewer_id is not None and to != item.reviewer_id:
        columns["reassigned_from_id"] = item.reviewer_id
    if escalate:
        columns["escalated_at"] = now
    return bool(
        ReviewItem.objects.filter(pk=item.pk, state=ItemState.PENDING, reviewer_id=item.reviewer_id).update(**columns)
    )


def _chain(run: CampaignRun, number: int) -> Chain:
    stage = stage_of(run, number)
    return Chain(fallback_group_id=_fallback_group_id(run), rule=stage.get("reviewer_rule") or "owner")


def _reroute(run: CampaignRun, chain: Chain, now: datetime, moved: Counter) -> list[dict]:
    gone = Q(reviewer__isnull=True) | Q(reviewer__is_active=False) | ~Q(reviewer__profile__status=PersonStatus.ACTIVE)
    changes = []
    chains = {run.stage: chain}  # each stage routes along its own reviewer rule
    for item in ReviewItem.objects.filter(gone, run=run, state=ItemState.PENDING).order_by("pk"):
        if item.stage not in chains:
            chains[item.stage] = _chain(run, item.stage)
        found = next_reviewer(item, chains[item.stage], beyond=-1)
        if found is None and item.reviewer_id is None:
            continue  # still nobody eligible: the dashboard shows it unrouted
        to, via = found or (None, RoutedVia.UNROUTED)
        if _move(item, to, RoutedVia.REROUTED if item.reviewer_id is not None else via, now):
            changes.append({"item": str(item.uuid), "from": item.reviewer_id, "to": to})
            if to is not None:
                moved[to] += 1
    return changes


def _escalate(run: CampaignRun, chain: Chain, now: datetime, moved: Counter, *, at_deadline: bool) -> list[dict]:
    pending = ReviewItem.objects.filter(run=run, stage=run.stage, state=ItemState.PENDING, reviewer__isnull=False)
    if at_deadline:  # once per deadline: items escalated before it may go one level further, then no more
        pending = pending.filter(Q(escalated_at__isnull=True) | Q(escalated_at__lt=run.due_at))
    else:
        pending = pending.filter(escalated_at__isnull=True)
    changes = []
    for item in pending.order_by("pk"):
        found = next_reviewer(item, chain, beyond=level_of(item, chain))
        if found is None:  # nobody further up: it stays, marked so the step is not asked again
            ReviewItem.objects.filter(pk=item.pk, state=ItemState.PENDING).update(escalated_at=now)
            continue
        if _move(item, found[0], RoutedVia.ESCALATED, now, escalate=True):
            changes.append({"item": str(item.uuid), "from": item.reviewer_id, "to": found[0]})
            moved[found[0]] += 1
    return changes


def _remind(run: CampaignRun, now: datetime) -> list[int]:
    days = sorted({int(d) for d in definition_value(run, "reminder_days", []) or [] if int(d) > 0}, reverse=True)
    passed = [d for d in days if now >= run.due_at - timedelta(days=d)]
    if not passed or now >= run.due_at:
        return []
    number = passed[-1]  # the latest reminder due: one missed while beat was down is not sent late as well
    waiting = (
        ReviewItem.objects.filter(run=run, stage=run.stage, state=ItemState.PENDING, reviewer__isnull=False)
        .values("reviewer_id")
        .annotate(n=Count("pk"))
        .order_by("reviewer_id")
    )
    name = run.campaign.name
    sent = []
    for row in waiting:
        subject = f"Reminder: {row['n']} access review item(s) in {name} are due {_when(run.due_at)}"
        intro = f"The access review {name} ends at {_when(run.due_at)}; these still wait for you:"
        if _notify(run, row["reviewer_id"], ReviewReminder.Kind.REMINDER, number, subject=subject, intro=intro):
            sent.append(row["reviewer_id"])
    return sent


def _tell_moved(run: CampaignRun, moved: Counter, now: datetime, why: str) -> None:
    started = run.stage_started_at or run.opened_at or run.launched_at
    number = max(0, min((now - started).days, 32000))
    for reviewer_id in sorted(moved):
        _notify(run, reviewer_id, ReviewReminder.Kind.ESCALATION, number,
                subject=f"Access review {run.campaign.name}: {moved[reviewer_id]} item(s) now wait for you",
                intro=f"{why} They are yours to review by {_when(run.due_at)}:")  # fmt: skip


def _deadline(run: CampaignRun, chain: Chain, now: datetime, moved: Counter) -> dict:
    if now < run.due_at:
        return {}
    outcome = stage_of(run)["no_answer_outcome"]
    pending = ReviewItem.objects.filter(run=run, stage=run.stage, state=ItemState.PENDING, due_at__lte=now)
    if outcome == "escalate":
        changes = _escalate(run, chain, now, moved, at_deadline=True)
        return {"outcome": outcome, "items": len(changes)} if changes else {}
    decision = ItemDecision.REVOKE if outcome == "revoke" else ItemDecision.CERTIFY
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    if not ids:
        return {}
    ReviewItem.objects.filter(pk__in=ids, state=ItemState.PENDING).update(
        state=ItemState.DECIDED, decision=decision, decided_via=DecidedVia.NO_ANSWER, decided_at=now,
        fulfilment_status=FulfilmentStatus.PENDING if decision == ItemDecision.REVOKE else FulfilmentStatus.NONE,
        fulfilment_next_at=now if decision == ItemDecision.REVOKE else None,
    )  # fmt: skip
    if decision == ItemDecision.REVOKE:
        fulfilment_enqueue(items=ids)
    return {"outcome": outcome, "items": len(ids)}


def _tick(run: CampaignRun, now: datetime) -> dict:
    stage = stage_of(run)
    chain = Chain(fallback_group_id=_fallback_group_id(run), rule=stage.get("reviewer_rule") or "owner")
    done: dict = {}
    moved: Counter = Counter()
    if count := _revoked_elsewhere(run):
        done["revoked_elsewhere"] = count
    if changes := _reroute(run, chain, now, moved):
        done["rerouted"] = changes[:200]
        done["rerouted_count"] = len(changes)
    after = definition_value(run, "escalate_after_days")
    started = run.stage_started_at or run.opened_at
    escalating = after and started and started + timedelta(days=int(after)) <= now < run.due_at
    if escalating and (changes := _escalate(run, chain, now, moved, at_deadline=False)):
        done["escalated"] = changes[:200]
        done["escalated_count"] = len(changes)
    if sent := _remind(run, now):
        done["reminded"] = sent
    if applied := _deadline(run, chain, now, moved):
        done["deadline"] = applied
    if moved:
        _tell_moved(run, moved, now, "Items of this access review were handed to you: their reviewer left, or did "
                    "not answer in time.")  # fmt: skip
    stage = run.stage
    if advanced := run_advance(run=run, now=now):  # after the outcome: the stage's keeps move on, then the run
        done["stage"] = advanced
        tell_stage_reviewers(run, stage + 1, Counter({int(k): v for k, v in advanced["moved_to"].items()}))
    return done


def campaigns_tick(*, now: datetime | None = None) -> dict[str, int]:
    """Every open run, one transaction each; returns counts of what changed."""
    now = now or timezone.now()
    totals: Counter = Counter()
    for run_id in CampaignRun.objects.filter(state=RunState.OPEN).order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            run = (
                CampaignRun.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("campaign")
                .filter(pk=run_id, state=RunState.OPEN)
                .first()
            )
            if run is None or run.due_at is None:
                continue  # another tick holds it, or it was closed meanwhile
            done = _tick(run, now)
            if not done:
                continue
            audit_record(
                actor=actors.this_job(JOB),
                action="campaign_run.cadence",
                target=run,
                object_label=f"{run.campaign.name} #{run.number}",
                changes=done,
            )
            totals["runs"] += 1
            totals["revoked_elsewhere"] += done.get("revoked_elsewhere", 0)
            totals["rerouted"] += done.get("rerouted_count", 0)
            totals["escalated"] += done.get("escalated_count", 0)
            totals["reminded"] += len(done.get("reminded", []))
            totals["deadline"] += done.get("deadline", {}).get("items", 0)
    return dict(totals)
