"""Fulfilment of review decisions: a revoke or reduce is applied to the entitlement, the credentials bound to
it and the tokens that relied on it together, through the runtime's `entitlement_revoke` /
`entitlement_replace` — never by the deciding request itself.

    with transaction.atomic():
        ...  # the item is decided: state, decision, decided_by…
        fulfilment_enqueue(item=item)
        audit_record(...)

`fulfilment_enqueue` writes an outbox row (`agentiam.outbox`, channel "reviews.fulfilment", dedupe key
`reviews.fulfil:<item uuid>`) in the deciding transaction, so a decision that commits is applied even when Redis
is down at that moment: the hand-off to the worker is lost, the beat sweep (`agentiam.tasks.sweep_outbox`) finds
the row once the broker is back. Delivery locks the outbox row (SKIP LOCKED) and the item (FOR UPDATE) and applies
the decision in that same transaction, so the revocation and "delivered" commit together: a second delivery, a
duplicate task or a second worker finds the item done and does nothing — exactly once.

The item mirrors the outbox: `fulfilment_status` pending → done (state `fulfilled`), or, after a failed attempt,
still pending with `fulfilment_error`, `fulfilment_attempts` and `fulfilment_next_at` (the outbox's exponential
backoff); after OUTBOX_MAX_ATTEMPTS, or at once for a refusal no retry can fix, `failed` (state `failed`), shown
on the campaign's dashboard, where a compliance officer may retry it (`fulfilment_retry`).

What a decision does:
- revoke: the entitlement (with its credentials and tokens), or the AgentIAM role of a role item;
- reduce to a narrower scope of a **read** entitlement: replaced at once by the narrower one (`replacement`);
- reduce of a write / admin / execute entitlement: the broad one is revoked at once and the narrower
  replacement waits for an administrator who does not own the identity (`awaiting_admin`,
  `fulfilment_complete`): owners and reviewers never grant privileged access;
- reduce to "JIT only": the standing entitlement is revoked and the identity made eligible to ask for it
  (`reviews.Eligibility`, which the JIT approval rules read).
An entitlement already revoked by someone else is not revoked twice: the item is done, saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from agentiam import outbox
from agentiam.errors import Conflict
from agentiam.models import OutboxMessage
from agentiam.permissions import Role, roles_of
from audit import actors
from audit.trail import audit_record
from identities.models import Action, Entitlement
from identities.runtime.services import ending
from identities.services.people import role_revoke
from reviews.models import CampaignRun, Eligibility, ReviewItem
from reviews.models_campaigns import FulfilmentStatus, ItemDecision, ItemState

__all__ = [
    "ERR_RETRY_NOTHING",
    "ERR_RETRY_ROLE",
    "KIND",
    "fulfilment_enqueue",
    "fulfilment_retry",
]

log = logging.getLogger(__name__)
KIND = "reviews.fulfilment"
JOB = "reviews.fulfilment"
CHUNK = 50  # items per outbox row: a bulk decision of 10,000 is 200 rows and 200 hand-offs, each a short transaction
LOCK_TIMEOUT = "5s"  # a fulfilment never waits long on a busy identity: it fails, backs off and tries again
ERR_RETRY_ROLE = "Only a compliance officer retries a campaign's failed fulfilments."
ERR_RETRY_NOTHING = "No fulfilment of this campaign has failed."
NEEDS_WORK = (ItemDecision.REVOKE, ItemDecision.REDUCE)


def _key(uuids: list[str], suffix: str = "") -> str:
    head = f"reviews.fulfil:{uuids[0]}" + (f"+{len(uuids) - 1}" if len(uuids) > 1 else "")
    return head + suffix


def _messages(uuids: list[str], suffix: str = "") -> int:
    for start in range(0, len(uuids), CHUNK):
        chunk = uuids[start : start + CHUNK]
        outbox.enqueue(kind=KIND, destination=f"review items ({len(chunk)})", payload={"items": chunk},
                       dedupe_key=_key(chunk, suffix))  # fmt: skip
    return len(uuids)


def fulfilment_enqueue(*, item: ReviewItem | None = None, items: Iterable[ReviewItem | int] = ()) -> int:
    """Call inside the transaction that decided `item` (or `items`: rows or ids, for a bulk decision): the
    outbox rows that apply every revoke and reduce among them are written there, and their fulfilment is
    pending. Certified items, privileged reduces waiting for an administrator and items already fulfilled need
    nothing. Returns how many items were handed over. Safe to call twice: delivery skips what is done."""
    ids = [getattr(entry, "pk", entry) for entry in ([item] if item is not None else [])] + [
        getattr(entry, "pk", entry) for entry in items
    ]
    if not ids:
        return 0
    work = ReviewItem.objects.filter(pk__in=ids, decision__in=NEEDS_WORK).exclude(
        fulfilment_status__in=[FulfilmentStatus.DONE, FulfilmentStatus.AWAITING_ADMIN, FulfilmentStatus.FAILED]
    )
    uuids = [str(value) for value in work.order_by("pk").values_list("uuid", flat=True)]
    if not uuids:
        return 0
    work.exclude(fulfilment_status=FulfilmentStatus.PENDING).update(
        fulfilment_status=FulfilmentStatus.PENDING, fulfilment_next_at=timezone.now()
    )
    return _messages(uuids)


# --- delivery (the outbox's worker, inside its transaction) ---------------------------------------------------


def _authority(item: ReviewItem) -> str:
    run = item.run
    return f"review item {item.uuid} ({run.campaign.name} #{run.number}, stage {item.stage})"


def _reason(item: ReviewItem) -> str:
    who = item.decided_by.get_username() if item.decided_by_id else "nobody answered (the no-answer outcome)"
    what = "reduced" if item.decision == ItemDecision.REDUCE else "revoked"
    text = f"access review {item.run.campaign.name} #{item.run.number}: {what} by {who}"
    return f"{text} — {item.comment[:500]}" if item.comment else text


def _actor(item: ReviewItem):
    """The reviewer who decided (the entitlement's `revoked_by`); a job for the no-answer outcome."""
    return item.decided_by if item.decided_by_id else actors.job(JOB)


def _apply(item: ReviewItem) -> str:
    """Apply the decision; returns a note for the item (empty, or what was found). Raises what the services
    raise."""
    actor, reason, authority = _actor(item), _reason(item), _authority(item)
    if item.entitlement_id is None:  # a role holding: AgentIAM's own privileged access
        if not item.role_holder.groups.filter(name=item.role).exists():
            return "the role was already taken away elsewhere"
        role_revoke(actor=actor, person=item.role_holder, role=item.role, certified=authority)
        return ""
    entitlement = Entitlement.objects.select_related("tool", "identity").get(pk=item.entitlement_id)
    if entitlement.revoked_at is not None:
        return f"already revoked elsewhere at {entitlement.revoked_at:%Y-%m-%d %H:%M} UTC"
    if item.decision == ItemDecision.REDUCE and item.reduce_scope is not None:
        if entitlement.action != Action.READ:  # never granted on a review's authority: an administrator does it
            raise PermissionDenied("a reduced write, admin or execute entitlement waits for an administrator")
        item.replacement = ending.entitlement_replace(
            entitlement=entitlement, actor=actor, reason=reason, certified=authority, scope=item.reduce_scope
        )
        return ""
    try:
        with transaction.atomic():
            ending.entitlement_revoke(entitlement=entitlement, actor=actor, reason=reason, certified=authority)
    except Conflict:
        if Entitlement.objects.filter(pk=entitlement.pk, revoked_at__isnull=False).exists():
            return "already revoked elsewhere"  # in the moment between the read above and the revocation
        raise
    if item.decision == ItemDecision.REDUCE and item.reduce_jit_only and item.eligibility_id is None:
        item.eligibility = Eligibility.objects.create(
            identity=entitlement.identity, tool=entitlement.tool, action=entitlement.action, scope=entitlement.scope,
            valid_from=timezone.now(), made_eligible_by=item.decided_by, reason=f"JIT only: {reason}"[:2000],
        )  # fmt: skip
    return ""


PERMANENT = (PermissionDenied, ValidationError, Conflict, ObjectDoesNotExist)


def _fulfil(item: ReviewItem, attempts: int) -> str | None:
    """One item, in a savepoint: None when done, else the failure's reason (recorded on the item)."""
    now = timezone.now()
    try:
        with transaction.atomic():  # a failure rolls back this item's writes only
            note = _apply(item)
    except (*PERMANENT, DatabaseError) as error:
        final = isinstance(error, PERMANENT) or attempts >= settings.OUTBOX_MAX_ATTEMPTS
        reason = _error_text(error)[:2000]
        ReviewItem.objects.filter(pk=item.pk).update(
            fulfilment_status=FulfilmentStatus.FAILED if final else FulfilmentStatus.PENDING,
            state=ItemState.FAILED if final else item.state,
            fulfilment_error=reason,
            fulfilment_attempts=attempts,
            fulfilment_next_at=None if final else now + outbox.backoff(attempts),
        )
        log.warning("fulfilment of review item %s failed (attempt %s%s): %s", item.uuid, attempts,
                    ", final" if final else "", reason)  # fmt: skip
        return None if final else reason
    ReviewItem.objects.filter(pk=item.pk).update(
        fulfilment_status=FulfilmentStatus.DONE,
        state=ItemState.FULFILLED,
        fulfilment_error=note,
        fulfilment_attempts=attempts,
        fulfilment_next_at=None,
        fulfilled_at=now,
        replacement=item.replacement,
        eligibility=item.eligibility,
    )
    return None


def deliver(message: OutboxMessage) -> None:
    """The outbox channel: apply each item's decision once, in the outbox row's transaction (the item's row is
    locked; one already done is skipped). Items that failed for a passing reason keep the message pending: it is
    raised for the outbox to retry with backoff; the others' work is committed all the same."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    items = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("run__campaign", "decided_by", "role_holder")
        .filter(uuid__in=message.payload.get("items", []))
        .order_by("pk")
    )
    retry = []
    for item in items:
        if item.fulfilment_status != FulfilmentStatus.PENDING or item.decision not in NEEDS_WORK:
            continue  # done already (a duplicate delivery, a retry), failed for good, or waiting for an administrator
        reason = _fulfil(item, message.attempts)
        if reason is not None:
            retry.append(f"{item.uuid}: {reason}")
    if retry:
        raise outbox.DeliveryFailed(f"{len(retry)} item(s) to retry — " + "; ".join(retry)[:1800])


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(f"{field}: {' '.join(map(str, texts))}" for field, texts in error.message_dict.items())
        return " ".join(error.messages)
    if isinstance(error, DatabaseError):
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"database: {first}"
    return str(error) or type(error).__name__


outbox.register_channel(KIND, deliver)


# --- after a failure ---------------------------------------------------------------------------------------------


@transaction.atomic
def fulfilment_retry(*, run: CampaignRun, actor, request=None) -> int:
    """A compliance officer tries every finally failed fulfilment of `run` again (new outbox rows; the backoff
    starts over). Returns how many."""
    if Role.COMPLIANCE_OFFICER not in roles_of(actor):
        raise PermissionDenied(ERR_RETRY_ROLE)
    failed = list(
        ReviewItem.objects.select_for_update()
        .filter(run=run, fulfilment_status=FulfilmentStatus.FAILED)
        .order_by("pk")
        .values_list("pk", "uuid")
    )
    if not failed:
        raise Conflict(ERR_RETRY_NOTHING)
    stamp = timezone.now()
    ReviewItem.objects.filter(pk__in=[pk for pk, _ in failed]).update(
        fulfilment_status=FulfilmentStatus.PENDING, state=ItemState.DECIDED, fulfilment_next_at=stamp,
        fulfilment_attempts=0,
    )  # fmt: skip
    uuids = [str(value) for _, value in failed]
    _messages(uuids, suffix=f":retry:{stamp.timestamp():.6f}")
    audit_record(
        actor=actor,
        action="campaign_run.fulfilment_retry",
        target=run,
        object_label=f"{run.campaign.name} #{run.number}",
        changes={"items": uuids},
        request=request,
    )
    return len(uuids)
