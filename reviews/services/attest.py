"""Attesting review items: certify, revoke, reduce (a narrower scope, or "JIT only") and reassign, one at a time
or many at once; accepting every recommendation set-wise; a reviewer's sign-off of their part; and the
administrator's completion of a privileged reduce.

Every decision is one conditional UPDATE on the values read (state, decision, reviewer, decided_at, no
sign-off): two people deciding one item at once both read it, and the second UPDATE finds the row changed
and is refused (409) — no lock is held while the rules are asked. A certify may change until the reviewer
signs off; a revoke or reduce is final and is handed to fulfilment in the same transaction (the item's
outbox row, services.fulfilment). Each decision records the reviewer,
the time, the time spent on the item and whether it was part of a bulk action."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from agentiam.digests import rows_digest
from agentiam.errors import Conflict, PermissionDenied, invalid
from audit.trail import audit_record
from identities.models import Action, Entitlement, EntitlementMode
from identities.rules import Right
from identities.runtime.services.ending import entitlement_replace
from identities.scope import InvalidScope, scope_within, validate_scope
from identities.services.identity import require
from reviews import rules
from reviews.attest_facts import comment_needed, eligible_people, reviewed
from reviews.models_campaigns import (
    CampaignRun,
    CommentRule,
    DecidedVia,
    FulfilmentStatus,
    ItemDecision,
    ItemState,
    ReviewerSignOff,
    ReviewItem,
    RoutedVia,
    RunState,
)
from reviews.services.cadence import tell_stage_reviewers
from reviews.services.fulfilment import fulfilment_enqueue
from reviews.services.stages import run_advance, stages_move_on

__all__ = [
    "ERR_COMMENT",
    "ERR_COMMENT_FLAGGED",
    "ERR_COMMENT_NEEDED",
    "ERR_DECISION",
    "ERR_FINAL",
    "ERR_NARROWER",
    "ERR_NOT_REVIEWER",
    "ERR_RACE",
    "ERR_REVOKED_ELSEWHERE",
    "ERR_SIGNED_OFF",
    "MAX_COMMENT",
    "Accepted",
    "review_item_complete_reduce",
    "review_item_decide",
    "review_items_accept_recommendations",
    "review_items_decide",
    "review_signoff",
]

MAX_COMMENT = 2000
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
MAX_BULK = 500  # items named in one bulk decision (accepting all recommendations has no limit)
PRIVILEGED = (Action.WRITE, Action.ADMIN, Action.EXECUTE)

ERR_DECISION = "Choose one of certify, revoke, reduce or reassign."
ERR_BULK_DECISION = "Many items at once can be certified or revoked; reduce and reassign one item at a time."
ERR_COMMENT = f"A comment is text of at most {MAX_COMMENT} characters, without NUL characters."
ERR_COMMENT_NEEDED = "This campaign asks for a comment on this decision."
ERR_COMMENT_FLAGGED = "Keeping a flagged item needs a comment saying why it is still needed."
ERR_NOTE_NEEDED = "Say why you hand this item on: the next reviewer reads it."
ERR_TIME_SPENT = "time_spent_ms is a whole number of milliseconds between 0 and one day."
ERR_NOT_REVIEWER = "This item waits for another reviewer."
ERR_SIGNED_OFF = "You signed off this part of the campaign: its decisions no longer change."
ERR_FINAL = "A {decision} is final: this item's decision no longer changes."
ERR_REVOKED_ELSEWHERE = "This access was revoked elsewhere during the campaign: nothing is left to decide."
ERR_RUN_STATE = "This campaign is {state}: its items cannot be decided now."
ERR_STAGE_OVER = "This item's stage is over: the campaign is in stage {stage}."
ERR_STAGE_NOT_STARTED = (
    "Stage {stage} of this campaign starts at {due}: items may still reach you until then, so sign it off once it "
    "has started."
)
ERR_RACE = "Someone decided or handed on this item at the same moment: reload it to see what happened."
ERR_REDUCE_HOW = "Reduce to a narrower scope or to JIT only: give one of them."
ERR_REDUCE_BOTH = "Choose a narrower scope or JIT only, not both."
ERR_NARROWER = "The new scope must be narrower than the current one: within it, and not the same."
ERR_JIT_ONLY_STANDING = "Only standing access can become JIT only."
ERR_ROLE_REDUCE = "An AgentIAM role is certified or revoked, not reduced."
ERR_REASSIGN_TO = "Choose the person to hand this item to."
ERR_REASSIGN_SELF = "This item is yours already: choose someone else."
ERR_REASSIGN_PENDING = "Only an item still to decide can be handed on."
ERR_ITEMS = "Name between 1 and {max} items."
ERR_ITEM_UNKNOWN = "No item of yours has this id."
ERR_STILL_PENDING = "{count} of your items in this campaign still wait for a decision: decide them, then sign off."
ERR_NOTHING_TO_SIGN = "You have no items in this campaign to sign off."
ERR_NOT_AWAITING = "This reduce does not wait for an administrator."
ERR_ADMIN_ONLY = "Only an administrator who does not own this identity may complete a reduce of privileged access."


def _text(field: str, value, message: str = ERR_COMMENT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_COMMENT or "\x00" in value:
        raise invalid(field, message)
    return value.strip()


def _time_spent(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIME_SPENT_MS:
        raise invalid("time_spent_ms", ERR_TIME_SPENT)
    return value


def _load(item: ReviewItem) -> ReviewItem:
    return ReviewItem.objects.select_related("run__campaign", "entitlement__tool", "identity").get(pk=item.pk)


def revoked_elsewhere(item: ReviewItem) -> bool:
    """The entitlement ended outside this campaign's decision (another revocation, an import, expiry)."""
    ended = item.entitlement_id is not None and item.entitlement.revoked_at is not None
    return ended and item.decision not in (ItemDecision.REVOKE, ItemDecision.REDUCE)


def _check_open(item: ReviewItem, actor) -> None:
    """Refusals that do not depend on what is decided: whose item, the campaign's state, sign-off, finality."""
    if item.reviewer_id != actor.pk:
        raise PermissionDenied(ERR_NOT_REVIEWER)
    if item.signed_off_at is not None:
        raise Conflict(ERR_SIGNED_OFF)
    if item.run.state != RunState.OPEN:
        raise Conflict(ERR_RUN_STATE.format(state=item.run.get_state_display().lower()))
    if item.stage < item.run.stage and item.state != ItemState.PENDING:
        raise Conflict(ERR_STAGE_OVER.format(stage=item.run.stage))
    if item.decision in (ItemDecision.REVOKE, ItemDecision.REDUCE) or item.decided_via not in ("", DecidedVia.REVIEWER):
        raise Conflict(ERR_FINAL.format(decision=item.get_decision_display().lower() or "decision"))
    if revoked_elsewhere(item):
        raise Conflict(ERR_REVOKED_ELSEWHERE)
    rules.may_review(actor.pk, reviewed(item, frozenset({actor.pk}))).check()


def _comment_for(item: ReviewItem, decision: str, comment: str) -> str:
    if not comment and comment_needed(item, decision):
        if decision == ItemDecision.REASSIGN:
            raise invalid("note", ERR_NOTE_NEEDED)
        raise invalid("comment", ERR_COMMENT_FLAGGED if item.flagged and decision == "certify" else ERR_COMMENT_NEEDED)
    return comment


def _reduce(item: ReviewItem, scope, jit_only: bool) -> dict:
    """The columns a reduce writes."""
    if item.entitlement_id is None:
        raise invalid("decision", ERR_ROLE_REDUCE)
    if not isinstance(jit_only, bool):
        raise invalid("jit_only", "jit_only is true or false.")
    entitlement: Entitlement = item.entitlement
    if jit_only and scope is not None:
        raise invalid("scope", ERR_REDUCE_BOTH)
    if jit_only:
        if entitlement.mode != EntitlementMode.STANDING:
            raise invalid("jit_only", ERR_JIT_ONLY_STANDING)
        # Fulfilment revokes the standing entitlement and creates the Eligibility the JIT rules read.
        return {"reduce_jit_only": True, "fulfilment_status": FulfilmentStatus.PENDING}
    if scope is None:
        raise invalid("scope", ERR_REDUCE_HOW)
    try:
        narrowed = validate_scope(scope)
    except InvalidScope as error:
        raise invalid("scope", str(error)) from None
    if narrowed == entitlement.scope or not scope_within(narrowed, entitlement.scope):
        raise invalid("scope", ERR_NARROWER)
    # Owners may grant read only: a narrower write/admin/execute waits for an administrator who does not own it.
    waits = entitlement.action in PRIVILEGED
    status = FulfilmentStatus.AWAITING_ADMIN if waits else FulfilmentStatus.PENDING
    return {"reduce_scope": narrowed, "fulfilment_status": status}


def _reassign(item: ReviewItem, to, note: str) -> dict:
    if item.state != ItemState.PENDING:
        raise Conflict(ERR_REASSIGN_PENDING)
    if to is None:
        raise invalid("reassign_to", ERR_REASSIGN_TO)
    if to.pk == item.reviewer_id:
        raise invalid("reassign_to", ERR_REASSIGN_SELF)
    eligible = frozenset(eligible_people(item).filter(pk=to.pk).values_list("pk", flat=True))
    answer = rules.may_review(to.pk, reviewed(item, eligible))
    if not answer:
        raise invalid("reassign_to", answer.reason)
    return {
        "reviewer": to,
        "routed_via": RoutedVia.REASSIGNED,
        "reassigned_from_id": item.reviewer_id,
        "reassign_note": _comment_for(item, ItemDecision.REASSIGN, note),
    }


def _columns(item, actor, decision, comment, scope, jit_only, reassign_to, note, spent, bulk, now) -> dict:
    """What deciding writes on the item (validated; raises naming the field)."""
    if decision == ItemDecision.REASSIGN:
        return _reassign(item, reassign_to, note)
    columns = {
        "state": ItemState.DECIDED,
        "decision": decision,
        "decided_via": DecidedVia.REVIEWER,
        "decided_by": actor,
        "decided_at": now,
        "comment": _comment_for(item, decision, comment),
        "time_spent_ms": spent,
        "bulk": bulk,
        "reduce_scope": None,
        "reduce_jit_only": False,
        "fulfilment_status": FulfilmentStatus.NONE,
        "fulfilment_next_at": None,
    }
    if decision == ItemDecision.REVOKE:
        columns["fulfilment_status"] = FulfilmentStatus.PENDING
    elif decision == ItemDecision.REDUCE:
        columns.update(_reduce(item, scope, jit_only))
    if columns["fulfilment_status"] == FulfilmentStatus.PENDING:
        columns["fulfilment_next_at"] = now
    return columns


def _write(item: ReviewItem, columns: dict) -> None:
    """The conditional UPDATE: only if nobody changed the item since it was read."""
    unchanged = ReviewItem.objects.filter(
        pk=item.pk,
        state=item.state,
        decision=item.decision,
        reviewer_id=item.reviewer_id,
        decided_at=item.decided_at,
        signed_off_at__isnull=True,
    )
    if not unchanged.update(**columns):
        raise Conflict(ERR_RACE)


def _decide_one(item, actor, decision, comment, scope, jit_only, reassign_to, note, spent, bulk, now) -> dict:
    if decision not in ItemDecision.values:
        raise invalid("decision", ERR_DECISION)
    comment = _text("comment", comment)
    note = _text("note", note)
    found = _load(item)
    _check_open(found, actor)
    before = found.decision
    columns = _columns(found, actor, decision, comment, scope, jit_only, reassign_to, note, spent, bulk, now)
    _write(found, columns)
    if columns.get("fulfilment_status") == FulfilmentStatus.PENDING:
        fulfilment_enqueue(item=found)
    moved = None
    if decision == ItemDecision.CERTIFY and found.stage < found.run.stage:
        # Answered after its stage ended (the deadline escalated it): the keep is final and moves on now.
        moved = stages_move_on(run=found.run, from_stage=found.stage, now=now, where=Q(pk=found.pk))
        tell_stage_reviewers(found.run, found.stage + 1, moved)
    return {
        "item": found,
        "changes": {
            "decision": decision,
            "was": before or None,
            "comment": columns.get("comment", ""),
            "scope": columns.get("reduce_scope"),
            "jit_only": columns.get("reduce_jit_only", False),
            "reassigned_to": reassign_to.get_username() if decision == ItemDecision.REASSIGN else None,
            "note": columns.get("reassign_note"),
            "time_spent_ms": spent,
            "bulk": bulk,
            "fulfilment": columns.get("fulfilment_status") or None,
            **({"moved_to_stage": found.stage + 1} if moved else {}),
        },
    }


@transaction.atomic
def review_item_decide(
    *,
    item: ReviewItem,
    actor,
    decision: str,
    comment: str = "",
    scope: dict | None = None,
    jit_only: bool = False,
    reassign_to=None,
    note: str = "",
    time_spent_ms: int | None = None,
    request=None,
) -> ReviewItem:
    """One reviewer's decision on one of their items."""
    spent = _time_spent(time_spent_ms)
    done = _decide_one(item, actor, decision, comment, scope, jit_only, reassign_to, note, spent, False,
                       timezone.now())  # fmt: skip
    found = done["item"]
    audit_record(
        actor=actor,
        action=f"review_item.{decision}",
        target=found,
        request=request,
        object_label=_label(found),
        changes={"campaign": found.run.campaign.name, "run": str(found.run.uuid), **done["changes"]},
    )
    return ReviewItem.objects.get(pk=found.pk)


def _label(item: ReviewItem) -> str:
    if item.entitlement_id is not None:
        return f"{item.identity.name}: {item.entitlement.tool.key} {item.entitlement.action}"[:300]
    return f"{item.role_holder_id}: role {item.role}"


@transaction.atomic
def review_items_decide(
    *,
    items: list,
    actor,
    decision: str,
    comment: str = "",
    time_spent_ms: int | None = None,
    request=None,
) -> list[ReviewItem]:
    """Certify or revoke several of one's items at once (each recorded as part of a bulk action). All or
    nothing: a refusal names the item (`items.<n>`) and nothing is written."""
    if decision not in (ItemDecision.CERTIFY, ItemDecision.REVOKE):
        raise invalid("decision", ERR_BULK_DECISION if decision in ItemDecision.values else ERR_DECISION)
    if not isinstance(items, list | tuple) or not 1 <= len(items) <= MAX_BULK:
        raise invalid("items", ERR_ITEMS.format(max=MAX_BULK))
    comment = _text("comment", comment)
    spent = _time_spent(time_spent_ms)
    share = spent // len(items) if spent is not None else None
    now = timezone.now()
    found = {row.uuid: row for row in ReviewItem.objects.filter(uuid__in=list(items), reviewer=actor)}
    done = []
    for index, key in enumerate(items):
        row = found.get(key)
        if row is None:
            raise invalid(f"items.{index}", ERR_ITEM_UNKNOWN)
        try:
            done.append(_decide_one(row, actor, decision, comment, None, False, None, "", share, True, now))
        except Conflict as error:
            raise Conflict(f"Item {index + 1} ({_label(_load(row))}): {error}") from None
        except PermissionDenied as error:
            raise PermissionDenied(f"Item {index + 1}: {error}") from None
        except Exception as error:
            if hasattr(error, "message_dict"):
                messages = [text for texts in error.message_dict.values() for text in texts]
                raise invalid(f"items.{index}", " ".join(messages)) from None
            raise
    digest = rows_digest([[str(d["item"].uuid), decision] for d in done])
    audit_record(
        actor=actor,
        action=f"review_item.bulk_{decision}",
        object_type="reviews.reviewitem",
        object_label=f"{len(done)} review items",
        request=request,
        changes={"decision": decision, "comment": comment, "bulk": True, "items": digest.as_json()},
    )
    return [d["item"] for d in done]


@dataclass(frozen=True)
class Accepted:
    certified: int
    revoked: int
    left: int  # pending items not accepted: no recommendation, a comment needed, access revoked elsewhere


_ACCEPT = """
    UPDATE reviews_reviewitem AS i
       SET state = 'decided',
           decision = CASE i.recommendation WHEN 'keep' THEN 'certify' ELSE 'revoke' END,
           decided_via = 'reviewer', decided_by_id = %(actor)s, decided_at = %(now)s,
           comment = %(comment)s, time_spent_ms = %(spent)s, bulk = true,
           fulfilment_status = CASE i.recommendation WHEN 'revoke' THEN 'pending' ELSE '' END,
           fulfilment_next_at = CASE i.recommendation WHEN 'revoke' THEN %(now)s::timestamptz END
     WHERE i.run_id = %(run)s AND i.stage >= %(stage)s AND i.reviewer_id = %(actor)s AND i.state = 'pending'
       AND i.signed_off_at IS NULL AND i.recommendation IN ('keep', 'revoke')
       AND (%(keep_ok)s OR i.recommendation <> 'keep')
       AND (%(keep_flagged_ok)s OR i.recommendation <> 'keep' OR NOT i.flagged)
       AND (%(revoke_ok)s OR i.recommendation <> 'revoke')
       AND (i.entitlement_id IS NULL OR NOT EXISTS (
            SELECT 1 FROM identities_entitlement e WHERE e.id = i.entitlement_id AND e.revoked_at IS NOT NULL))
    RETURNING i.id, i.uuid::text, i.decision
"""


@transaction.atomic
def review_items_accept_recommendations(
    *, actor, run: CampaignRun | None = None, comment: str = "", time_spent_ms: int | None = None, request=None
) -> Accepted:
    """Accept the recommendation of every pending item of the actor's (in one run, or in every open run):
    keep → certify, revoke → revoke, set-wise — one UPDATE per run, the revokes handed to fulfilment, one audit
    entry per run with the digest of what was decided. Items the definition wants a comment on are left for
    one at a time unless `comment` is given; keeping a flagged item always needs one."""
    comment = _text("comment", comment)
    spent = _time_spent(time_spent_ms)
    runs = CampaignRun.objects.select_related("campaign").filter(state=RunState.OPEN)
    runs = runs.filter(pk=run.pk) if run is not None else runs.filter(items__reviewer=actor).distinct()
    certified = revoked = 0
    now = timezone.now()
    for found in runs:
        rule = (found.definition or {}).get("comment_required", found.campaign.comment_required)
        with connection.cursor() as cursor:
            pending = ReviewItem.objects.filter(run=found, stage__gte=found.stage, reviewer=actor, state="pending")
            count = pending.count()
            share = spent // count if spent is not None and count else None
            cursor.execute(
                _ACCEPT,
                {
                    "actor": actor.pk,
                    "now": now,
                    "comment": comment,
                    "spent": share,
                    "run": found.pk,
                    "stage": found.stage,
                    "keep_ok": bool(comment) or rule != CommentRule.ALL,
                    "keep_flagged_ok": bool(comment),
                    "revoke_ok": bool(comment) or rule not in (CommentRule.ALL, CommentRule.REVOKE),
                },
            )
            rows = cursor.fetchall()
        if not rows:
            continue
        revokes = [row[0] for row in rows if row[2] == ItemDecision.REVOKE]
        fulfilment_enqueue(items=revokes)
        certified += len(rows) - len(revokes)
        revoked += len(revokes)
        audit_record(
            actor=actor,
            action="review_item.accept_recommendations",
            target=found,
            request=request,
            object_label=f"{found.campaign.name} run {found.number}"[:300],
            changes={
                "certified": len(rows) - len(revokes),
                "revoked": len(revokes),
                "comment": comment,
                "bulk": True,
                "items": rows_digest([[row[1], row[2]] for row in rows]).as_json(),
            },
        )
    left = ReviewItem.objects.filter(
        reviewer=actor, state=ItemState.PENDING, run__in=list(runs), signed_off_at__isnull=True
    ).count()
    return Accepted(certified, revoked, left)


_ELSEWHERE = """
    UPDATE reviews_reviewitem AS i
       SET state = 'fulfilled', decided_via = 'elsewhere', decided_at = %(now)s
      FROM identities_entitlement e
     WHERE e.id = i.entitlement_id AND e.revoked_at IS NOT NULL
       AND i.run_id = %(run)s AND i.stage = %(stage)s AND i.reviewer_id = %(actor)s AND i.state = 'pending'
"""


@transaction.atomic
def review_signoff(*, run: CampaignRun, actor, note: str = "", request=None) -> ReviewerSignOff:
    """A reviewer signs off their part of the run's current stage: every item decided (access revoked
    elsewhere counts as done and is recorded so); after this none of them changes (the database holds it)."""
    note = _text("note", note)
    found = CampaignRun.objects.select_for_update().select_related("campaign").get(pk=run.pk)
    if found.state != RunState.OPEN:
        raise Conflict(ERR_RUN_STATE.format(state=found.get_state_display().lower()))
    mine = ReviewItem.objects.filter(run=found, stage=found.stage, reviewer=actor)
    if not mine.exists():
        if ReviewItem.objects.filter(run=found, stage__gt=found.stage, reviewer=actor).exists():
            raise Conflict(
                ERR_STAGE_NOT_STARTED.format(stage=found.stage + 1, due=f"{found.due_at:%Y-%m-%d %H:%M} UTC")
            )
        raise Conflict(ERR_NOTHING_TO_SIGN)
    if ReviewerSignOff.objects.filter(run=found, stage=found.stage, reviewer=actor).exists():
        if ReviewItem.objects.filter(run=found, stage__gt=found.stage, reviewer=actor).exists():
            raise Conflict(
                ERR_STAGE_NOT_STARTED.format(stage=found.stage + 1, due=f"{found.due_at:%Y-%m-%d %H:%M} UTC")
            )
        raise Conflict(ERR_SIGNED_OFF)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_ELSEWHERE, {"now": now, "run": found.pk, "stage": found.stage, "actor": actor.pk})
        elsewhere = cursor.rowcount
    waiting = mine.filter(state=ItemState.PENDING).count()
    if waiting:
        raise Conflict(ERR_STILL_PENDING.format(count=waiting))
    covered = mine.filter(signed_off_at__isnull=True).update(signed_off_at=now)
    sign_off = ReviewerSignOff.objects.create(
        run=found, stage=found.stage, reviewer=actor, signed_off_at=now, items=covered, note=note
    )
    stage = found.stage
    # The keeps a later stage reviews move on now (the next reviewer need not wait for everyone), and the run
    # with them once nothing of its stage can change.
    moved = stages_move_on(run=found, from_stage=stage, now=now, where=Q(reviewer=actor))
    advanced = run_advance(run=found, now=now, at_deadline_too=False)
    tell_stage_reviewers(found, stage + 1, moved)
    audit_record(
        actor=actor,
        action="review.sign_off",
        target=found,
        request=request,
        object_label=f"{found.campaign.name} run {found.number}, stage {stage}"[:300],
        changes={
            "items": covered,
            "revoked_elsewhere": elsewhere,
            "note": note,
            **({"moved_to_next_stage": sum(moved.values())} if moved else {}),
            **({"run_advanced": advanced} if advanced else {}),
        },
    )
    return sign_off


@transaction.atomic
def review_item_complete_reduce(
    *, item: ReviewItem, actor, exception_reason: str = "", exception_until=None, request=None
) -> ReviewItem:
    """An administrator who does not own the identity completes a reduce of write/admin/execute access: the
    entitlement is replaced by the narrower one through the runtime (its tokens end)."""
    found = _load(item)
    if found.fulfilment_status != FulfilmentStatus.AWAITING_ADMIN or found.decision != ItemDecision.REDUCE:
        raise Conflict(ERR_NOT_AWAITING)
    try:
        require(Right.GRANT_PRIVILEGED, found.identity, actor)
    except PermissionDenied:
        raise PermissionDenied(ERR_ADMIN_ONLY) from None
    now = timezone.now()
    if not ReviewItem.objects.filter(pk=found.pk, fulfilment_status=FulfilmentStatus.AWAITING_ADMIN).update(
        fulfilment_status=FulfilmentStatus.PENDING
    ):
        raise Conflict(ERR_RACE)
    replacement = entitlement_replace(
        entitlement=found.entitlement,
        actor=actor,
        reason=f"review campaign {found.run.campaign.name}: reduced by {found.decided_by.get_username()}",
        scope=found.reduce_scope,
        exception_reason=exception_reason,
        exception_until=exception_until,
        request=request,
    )
    ReviewItem.objects.filter(pk=found.pk).update(
        state=ItemState.FULFILLED,
        fulfilment_status=FulfilmentStatus.DONE,
        fulfilled_at=now,
        fulfilled_by=actor,
        replacement=replacement,
    )
    audit_record(
        actor=actor,
        action="review_item.complete_reduce",
        target=found,
        request=request,
        object_label=_label(found),
        changes={"scope": found.reduce_scope, "replacement": str(replacement.uuid)},
    )
    return ReviewItem.objects.get(pk=found.pk)
