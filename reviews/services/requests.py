"""Elevation requests: asking (from a person who may change the identity, or the agent itself), withdrawing,
and expiring. Approving and denying are in reviews.services.decisions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied, invalid
from audit import actors
from audit.trail import audit_record
from identities.models import Entitlement, EntitlementMode, Identity, IdentityStatus, Task
from identities.rules import Right
from identities.scope import InvalidScope, scope_within, validate_scope
from identities.services import require, task_open
from reviews import notifications
from reviews.models import ElevationRequest, RequestState, Urgency
from reviews.services import facts
from reviews.services.granting import grant_for

__all__ = [
    "ERR_ALREADY_HELD",
    "ERR_AUP",
    "ERR_DURATION_CAP",
    "ERR_IDENTITY_STATE",
    "ERR_NOT_PENDING",
    "ERR_NOT_REQUESTER",
    "ERR_ORPHANED",
    "request_create",
    "request_withdraw",
    "requests_expire",
]

MAX_JUSTIFICATION = 2000
ERR_JUSTIFICATION = f"Say why, in at most {MAX_JUSTIFICATION} characters."
ERR_DURATION = "The duration is a whole number of seconds, more than 0."
ERR_DURATION_CAP = "At most {cap} seconds may be asked for here (the approval rule's cap)."
ERR_URGENCY = "Urgency is low, normal or high."
ERR_TASK = "The task belongs to another identity."
ERR_TASK_CLOSED = "This task is closed: ask for a new task."
ERR_IDENTITY_STATE = "A {status} identity cannot ask for elevation."
ERR_ORPHANED = "An identity with no accountable owner cannot ask for elevation."
ERR_AUP = "The acceptable-use record does not allow {key}."
ERR_NO_AUP = "This identity has no acceptable-use record in force."
ERR_ALREADY_HELD = "Already held, nothing to ask for: {scopes}."
ERR_NOT_PENDING = "This request is {state}, no longer pending."
ERR_NOT_REQUESTER = "Only whoever made a request may withdraw it."


def _checked(justification, duration_seconds, urgency, scope) -> dict:
    if not isinstance(justification, str) or not justification.strip() or len(justification) > MAX_JUSTIFICATION:
        raise invalid("justification", ERR_JUSTIFICATION)
    if "\x00" in justification:
        raise invalid("justification", ERR_JUSTIFICATION)
    if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int) or duration_seconds <= 0:
        raise invalid("duration_seconds", ERR_DURATION)
    if urgency not in Urgency.values:
        raise invalid("urgency", ERR_URGENCY)
    try:
        return validate_scope({} if scope is None else scope)
    except InvalidScope as error:
        raise invalid("scope", str(error)) from None


def _task(identity: Identity, task: Task | str, actor) -> Task:
    if isinstance(task, str):
        if not task.strip() or len(task) > 200 or "\x00" in task:
            raise invalid("task", "Name the task (at most 200 characters).")
        task = Task.objects.filter(identity=identity, name=task).first() or task_open(
            identity=identity, name=task, actor=actor
        )
    if task.identity_id != identity.pk:
        raise invalid("task", ERR_TASK)
    if task.state != Task.State.OPEN:
        raise Conflict(ERR_TASK_CLOSED)
    return task


def _held(identity: Identity, task: Task, pairs, scope: dict) -> list[str]:
    """The scopes already covered: by a live standing entitlement, or a live JIT grant of this task."""
    now = timezone.now()
    live = Entitlement.objects.filter(identity=identity, revoked_at__isnull=True).exclude(expires_at__lte=now)
    held = []
    for tool, action in pairs:
        rows = live.filter(tool=tool, action=action)
        standing = rows.filter(mode=EntitlementMode.STANDING)
        jit = rows.filter(mode=EntitlementMode.JIT, grant__task=task, grant__ended_at__isnull=True)
        if any(scope_within(scope, row.scope) for row in [*standing, *jit]):
            held.append(f"{tool.key}:{action}")
    return held


def _asker(actor, agent: Identity | None, identity: Identity) -> dict:
    """The audit trail's actor for a request's own writes: the person, or the identity asking for itself."""
    if agent is not None:
        return {"actor": actors.identity(identity)}
    return {"actor": actor}


@transaction.atomic
def request_create(
    *,
    identity: Identity,
    task: Task | str,
    scopes: list[str],
    justification: str,
    duration_seconds: int,
    scope: dict | None = None,
    urgency: str = Urgency.NORMAL,
    actor=None,
    agent: Identity | None = None,
    request=None,
) -> ElevationRequest:
    """Ask for JIT access for one task: by a person who may change the identity (`actor`) or by the
    identity itself (`agent`, authenticated by its proof or task token). A pending request for the same
    identity, task, scopes and scope is returned instead of a second one (merged)."""
    if agent is not None and agent.pk != identity.pk:
        raise invalid("identity", "An agent may ask only for itself.")
    if agent is None:
        require(Right.CHANGE, identity, actor)
    scope = _checked(justification, duration_seconds, urgency, scope)
    pairs = facts.tools_for(scopes)
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if identity.status != IdentityStatus.ACTIVE:
        raise Conflict(ERR_IDENTITY_STATE.format(status=identity.get_status_display().lower()))
    if identity.is_orphaned:
        raise Conflict(ERR_ORPHANED)
    aup = facts.current_aup(identity)
    if aup is None:
        raise Conflict(ERR_NO_AUP)
    for tool, _ in pairs:
        if not facts.aup_allows(aup, tool):
            raise invalid("scopes", ERR_AUP.format(key=tool.key))
    task = _task(identity, task, actor)
    held = _held(identity, task, pairs, scope)
    if held:
        raise Conflict(ERR_ALREADY_HELD.format(scopes=", ".join(held)))
    rule = facts.rule_for(identity, pairs, scope)
    if duration_seconds > rule.max_duration_seconds:
        raise invalid("duration_seconds", ERR_DURATION_CAP.format(cap=rule.max_duration_seconds))
    names = [f"{tool.key}:{action}" for tool, action in pairs]
    open_one = ElevationRequest.objects.filter(
        identity=identity, task=task, scopes=names, scope=scope, state=RequestState.PENDING
    ).first()
    if open_one is not None:
        audit_record(
            **_asker(actor, agent, identity),
            action="elevation_request.merge",
            target=open_one,
            request=request,
            changes={"justification": justification, "duration_seconds": duration_seconds},
        )
        return open_one
    pinned, digest, policy = facts.pin(identity, pairs)
    created = ElevationRequest.objects.create(
        identity=identity,
        task=task,
        scopes=names,
        scope=scope,
        justification=justification,
        duration_seconds=duration_seconds,
        urgency=urgency,
        requested_by=actor if agent is None else None,
        requested_by_identity=agent,
        policy_version=policy,
        digest=digest,
        pinned=pinned,
        rule=rule.rule,
        approvals_needed=rule.approvals_needed,
        expires_at=timezone.now() + timedelta(seconds=settings.REVIEWS_PENDING_TTL),
    )
    if rule.auto_approve:
        rule_actor = actors.job(f"reviews auto-approval (rule {rule.rule})")
        grant_for(created, actor=rule_actor, scopes=names, scope=scope, duration_seconds=duration_seconds)
    notifications.notify_requested(created)  # the approvers, through the outbox: sent once this commits
    audit_record(
        **_asker(actor, agent, identity),
        action="elevation_request.create",
        target=created,
        request=request,
        object_label=f"{identity.name}: {', '.join(names)}",
        changes={
            "task": str(task.uuid),
            "scopes": names,
            "scope": scope,
            "duration_seconds": duration_seconds,
            "urgency": urgency,
            "approvals_needed": rule.approvals_needed,
            "auto_approved": rule.auto_approve,
            "digest": digest,
        },
    )
    return created


@transaction.atomic
def request_withdraw(
    *, elevation_request: ElevationRequest, actor=None, agent: Identity | None = None, reason: str = "", request=None
) -> ElevationRequest:
    """The requester (the person, or the identity that asked for itself) takes back a pending request."""
    found = ElevationRequest.objects.select_for_update().get(pk=elevation_request.pk)
    by_them = (agent is None and actor is not None and found.requested_by_id == actor.pk) or (
        agent is not None and found.requested_by_identity_id == agent.pk
    )
    if not by_them:
        raise PermissionDenied(ERR_NOT_REQUESTER)
    if found.state != RequestState.PENDING:
        raise Conflict(ERR_NOT_PENDING.format(state=found.state))
    found.state, found.decided_at, found.closed_note = RequestState.WITHDRAWN, timezone.now(), reason[:2000]
    found.save(update_fields=["state", "decided_at", "closed_note"])
    audit_record(
        **_asker(actor, agent, found.identity),
        action="elevation_request.withdraw",
        target=found,
        request=request,
        changes={"reason": reason[:2000]},
    )
    return found


BATCH = 500


@transaction.atomic
def requests_expire(*, now=None) -> int:
    """Mark pending requests past their expiry as expired (a batch; the beat task repeats). Approving one
    is refused by the clock before this runs, so nothing depends on it being on time."""
    now = now or timezone.now()
    due = list(
        ElevationRequest.objects.select_for_update(skip_locked=True)
        .filter(state=RequestState.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", "uuid")[:BATCH]
    )
    if not due:
        return 0
    ElevationRequest.objects.filter(pk__in=[pk for pk, _ in due]).update(
        state=RequestState.EXPIRED, decided_at=now, closed_note="expired unanswered"
    )
    audit_record(
        actor=actors.this_job("reviews.tasks.expire_requests"),
        action="elevation_request.expire",
        object_type="reviews.elevationrequest",
        object_label=f"{len(due)} request(s)",
        changes={"requests": [str(uuid) for _, uuid in due]},
    )
    return len(due)
