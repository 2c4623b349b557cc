"""Deciding elevation requests: approve (possibly less than asked), deny (final), and ending the grant an
approval produced early, through the runtime's grant_end (which revokes every token that relied on it)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied, invalid
from audit.trail import audit_record
from identities.models import Grant, standing
from identities.rules import Right, may
from identities.runtime.services.ending import grant_end
from identities.scope import InvalidScope, scope_within, validate_scope
from reviews import notifications, rules
from reviews.models import Approval, Decision, Delegation, ElevationRequest, RequestState
from reviews.services import facts
from reviews.services.granting import grant_for
from reviews.services.requests import ERR_NOT_PENDING, MAX_JUSTIFICATION

__all__ = [
    "ERR_CHANGED",
    "ERR_EXPIRED",
    "ERR_LONGER",
    "ERR_MORE_SCOPES",
    "ERR_NOT_ROUTED",
    "ERR_WIDER",
    "request_approve",
    "request_deny",
    "request_grant_end",
]

ERR_EXPIRED = "This request expired unanswered at {at:%Y-%m-%d %H:%M} UTC: ask again."
ERR_CHANGED = "This request cannot be approved under other rules than it was made on: {what}. Ask again."
ERR_LONGER = "An approval may grant less than asked, never more: at most {asked} seconds."
ERR_MORE_SCOPES = "An approval may grant fewer scopes than asked, never others: choose among {asked}."
ERR_WIDER = "An approval may narrow the scope object, never widen it."
ERR_NOT_ROUTED = "This request is routed to another approver (the owner's manager, their delegate or a manager above)."
ERR_COMMENT = f"A comment is at most {MAX_JUSTIFICATION} characters."
ERR_DISAGREE = "The approvals' scope objects do not nest, so no grant is narrower than all of them: deny and ask again."
ERR_NO_COMMON = "The approvals share no scope: deny and ask again."
ERR_GRANT_END = (
    "Only a security analyst, someone who may change this identity, or an approver of it may end this grant."
)
ERR_NO_GRANT = "This request produced no grant."


def _open(elevation_request: ElevationRequest) -> ElevationRequest:
    """The request, locked, if it may still be decided (the clock decides expiry, not the sweep)."""
    found = (
        ElevationRequest.objects.select_for_update(of=("self",))
        .select_related("identity", "rule")
        .get(pk=elevation_request.pk)
    )
    if found.state != RequestState.PENDING:
        raise Conflict(ERR_NOT_PENDING.format(state=found.state))
    if found.expires_at <= timezone.now():
        raise Conflict(ERR_EXPIRED.format(at=found.expires_at))
    return found


def _comment(comment: str) -> str:
    if not isinstance(comment, str) or len(comment) > MAX_JUSTIFICATION or "\x00" in comment:
        raise invalid("comment", ERR_COMMENT)
    return comment


def _authorise(found: ElevationRequest, actor) -> int | None:
    """Refuse unless `actor` may decide: separation of duties, then routing. Returns whose delegate they are."""
    group_id = found.rule.approver_group_id if found.rule else None
    candidate = facts.candidate(actor.pk, group_id)
    rules.may_decide(candidate, facts.asked(found)).check()
    if not candidate.in_approver_group and actor.pk not in facts.slots(found, group_id):
        raise PermissionDenied(ERR_NOT_ROUTED)
    now = timezone.now()
    return (
        Delegation.objects.filter(delegate=actor, starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)
        .values_list("approver_id", flat=True)
        .first()
    )


def _decide(found: ElevationRequest, actor, on_behalf_of: int | None, decision: str, comment: str, **terms):
    """One approver's row (the database refuses a second one, and the requester, an owner or the holder)."""
    return Approval.objects.create(
        request=found,
        approver=actor,
        requester=found.requested_by,
        on_behalf_of_id=on_behalf_of,
        decision=decision,
        comment=_comment(comment),
        **terms,
    )


def _terms(found: ElevationRequest, duration_seconds, scopes, scope) -> tuple[int, list[str], dict]:
    """What this approver grants: what was asked, or less, never more."""
    duration = found.duration_seconds if duration_seconds is None else duration_seconds
    if isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0:
        raise invalid("duration_seconds", "The duration is a whole number of seconds, more than 0.")
    if duration > found.duration_seconds:
        raise invalid("duration_seconds", ERR_LONGER.format(asked=found.duration_seconds))
    names = found.scopes
    if scopes is not None:
        names = [f"{tool.key}:{action}" for tool, action in facts.tools_for(scopes)]
        if not set(names) <= set(found.scopes):
            raise invalid("scopes", ERR_MORE_SCOPES.format(asked=", ".join(found.scopes)))
    narrowed = found.scope
    if scope is not None:
        try:
            narrowed = validate_scope(scope)
        except InvalidScope as error:
            raise invalid("scope", str(error)) from None
        if not scope_within(narrowed, found.scope):
            raise invalid("scope", ERR_WIDER)
    return duration, names, narrowed


def _narrowest(approvals: list[Approval]) -> tuple[int, list[str], dict]:
    duration = min(a.duration_seconds for a in approvals)
    names = sorted(set.intersection(*(set(a.scopes) for a in approvals)))
    if not names:
        raise Conflict(ERR_NO_COMMON)
    scope = next((a.scope for a in approvals if all(scope_within(a.scope, b.scope) for b in approvals)), None)
    if scope is None:
        raise Conflict(ERR_DISAGREE)
    return duration, names, scope


@transaction.atomic
def request_approve(
    *,
    elevation_request: ElevationRequest,
    actor,
    comment: str = "",
    duration_seconds: int | None = None,
    scopes: list[str] | None = None,
    scope: dict | None = None,
    request=None,
) -> ElevationRequest:
    """One approval. Once the rule's number of distinct approvers is reached, the narrowest of their terms is
    granted (JIT entitlements bound to the task, ending `duration` seconds from now)."""
    found = _open(elevation_request)
    what = facts.changed(found)
    if what:
        raise Conflict(ERR_CHANGED.format(what="; ".join(what)))
    on_behalf_of = _authorise(found, actor)
    duration, names, narrowed = _terms(found, duration_seconds, scopes, scope)
    _decide(found, actor, on_behalf_of, Decision.APPROVE, comment, duration_seconds=duration, scopes=names,
            scope=narrowed)  # fmt: skip
    approvals = list(found.approvals.filter(decision=Decision.APPROVE))
    grant = None
    if len(approvals) >= found.approvals_needed:
        duration, names, narrowed = _narrowest(approvals)
        grant = grant_for(found, actor=actor, scopes=names, scope=narrowed, duration_seconds=duration, request=request)
        notifications.notify_decided(found)  # the requester, through the outbox: sent once this commits
    audit_record(
        actor=actor,
        action="elevation_request.approve",
        target=found,
        request=request,
        changes={
            "approvals": len(approvals),
            "approvals_needed": found.approvals_needed,
            "duration_seconds": duration,
            "scopes": names,
            "scope": narrowed,
            "on_behalf_of": on_behalf_of,
            "grant": str(grant.uuid) if grant else None,
        },
    )
    return found


@transaction.atomic
def request_deny(*, elevation_request: ElevationRequest, actor, comment: str = "", request=None) -> ElevationRequest:
    """Any deny is final: the request closes, whatever approvals it had."""
    found = _open(elevation_request)
    on_behalf_of = _authorise(found, actor)
    comment = _decide(found, actor, on_behalf_of, Decision.DENY, comment).comment
    found.state, found.decided_at, found.closed_note = RequestState.DENIED, timezone.now(), comment
    found.save(update_fields=["state", "decided_at", "closed_note"])
    notifications.notify_decided(found)
    audit_record(
        actor=actor,
        action="elevation_request.deny",
        target=found,
        request=request,
        changes={"comment": comment, "on_behalf_of": on_behalf_of},
    )
    return found


@transaction.atomic
def request_grant_end(*, elevation_request: ElevationRequest, actor, reason: str, request=None) -> int:
    """End the grant a request produced before its time: an owner, an approver of the request or a security
    analyst. Through the runtime's grant_end, so its tokens end in the same transaction."""
    found = ElevationRequest.objects.select_related("identity").get(pk=elevation_request.pk)
    if found.grant_id is None:
        raise Conflict(ERR_NO_GRANT)
    approver = found.approvals.filter(approver=actor, decision=Decision.APPROVE).exists()
    if not approver and not may(Right.END_TASK, standing(found.identity, actor)):
        raise PermissionDenied(ERR_GRANT_END)
    return grant_end(grant=Grant.objects.get(pk=found.grant_id), actor=actor, reason=reason, request=request)
