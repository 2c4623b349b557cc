"""Break-glass: an owner's emergency self-grant, and its after-the-fact review.

`break_glass_start` grants at once, without an approver, what the owner names for one task — capped at
REVIEWS_BREAK_GLASS_MAX_SECONDS (an hour at most), one active per identity, production-secret tools only where
the approval rule matching them allows break-glass — and tells the approvers and the security analysts at
once (outbox). Step-up is the view's (agentiam.stepup): an API token or an agent never reaches this. The grant
ends like every JIT grant, through the runtime's grant_end / task_end.

`break_glass_close` is the after-the-fact review: someone who is neither the person nor an owner of the
identity (the database refuses them too) closes it with a note. `reviews_visible_to(user)` are the records
the review list shows (identities the person may view, for the roles that close reviews and auditors) and
`reviews_to_close(user)` the open ones they may close — `may_close`, set-wise. `break_glass_escalate` (beat) tells the
security analysts and administrators of reviews left open past REVIEWS_BREAK_GLASS_REVIEW_WITHIN; whether a
review is overdue is read from the clock (`overdue`), not from the job."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied, invalid
from agentiam.notifications import email_digest
from agentiam.permissions import Role, roles_of
from audit import actors
from audit.trail import audit_record
from identities.models import Identity, IdentityStatus, Profile, current_ownerships
from identities.services import grant_create, is_current_owner
from reviews.models import ApprovalRule, BreakGlass
from reviews.services import facts
from reviews.services.requests import MAX_JUSTIFICATION, _task

__all__ = [
    "CLOSERS",
    "ERR_ACTIVE",
    "ERR_CLOSER_OWNER",
    "ERR_CLOSER_ROLE",
    "ERR_CLOSER_SELF",
    "ERR_NOT_OWNER",
    "ERR_PRODUCTION_SECRET",
    "ERR_REASON",
    "NOTIFY_KIND",
    "REVIEW_READERS",
    "break_glass_close",
    "break_glass_escalate",
    "break_glass_start",
    "count_since",
    "overdue",
    "overdue_since",
    "reviews_to_close",
    "reviews_visible_to",
]

ERR_NOT_OWNER = "Only a current owner of this identity may break the glass for it."
ERR_REASON = f"Say why this cannot wait for an approver, in at most {MAX_JUSTIFICATION} characters."
ERR_DURATION = "Break-glass lasts 1 to {cap} seconds."
ERR_ACTIVE = "A break-glass grant is already active on this identity (until {until:%H:%M} UTC): end it first."
ERR_PRODUCTION_SECRET = "{key} holds production secrets: no approval rule allows break-glass on it."  # noqa: S105
ERR_IDENTITY = "A {status} identity cannot be given access."
ERR_CLOSER_SELF = "Nobody closes the review of their own break-glass."
ERR_CLOSER_OWNER = "An owner of this identity may not close the review of its break-glass."
ERR_CLOSER_ROLE = "Only a manager, a security analyst, a compliance officer or an administrator closes a review."
ERR_CLOSED = "This break-glass review is already closed."
ERR_NOTE = f"Say what you found, in at most {MAX_JUSTIFICATION} characters."
CLOSERS = frozenset({Role.MANAGER, Role.SECURITY_ANALYST, Role.COMPLIANCE_OFFICER, Role.ADMINISTRATOR})
REVIEW_READERS = CLOSERS | {Role.AUDITOR}  # the review list: those who close reviews, and auditors read-only
NOTIFY_KIND = "reviews.break_glass"  # the event's name in its e-mail's dedupe key and the trail


def _text(value, field: str, message: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_JUSTIFICATION or "\x00" in value:
        raise invalid(field, message)
    return value.strip()


def overdue_since(now=None):
    """A review started at or before this moment and still open is overdue."""
    return (now or timezone.now()) - timedelta(seconds=settings.REVIEWS_BREAK_GLASS_REVIEW_WITHIN)


def overdue(row: BreakGlass, now=None) -> bool:
    """Unclosed past the review window (the page shows it whether or not the escalation job ran)."""
    return row.closed_at is None and row.started_at <= overdue_since(now)


def _production_secrets_allowed(identity: Identity, tool, action: str) -> bool:
    enabled = ApprovalRule.objects.filter(enabled=True).order_by("priority")
    rule = next((r for r in enabled if facts._matches(r, identity, tool, action)), None)
    return rule is not None and rule.allows_break_glass


def _people(*roles: Role):
    return get_user_model().objects.filter(is_active=True, groups__name__in=[r.value for r in roles]).distinct()


def _addresses(people) -> list[str]:
    return sorted({p.email for p in people if p.email})[:50]


def _approvers_and_analysts(identity: Identity) -> list[str]:
    owners = current_ownerships().filter(identity=identity).values_list("person_id", flat=True)
    managers = Profile.objects.filter(user_id__in=owners, manager__isnull=False).values_list("manager_id", flat=True)
    people = get_user_model().objects.filter(Q(pk__in=managers, is_active=True)).exclude(pk__in=owners)
    return _addresses([*people, *_people(Role.SECURITY_ANALYST)])


def _link(row: BreakGlass) -> str:
    return f"{settings.NOTIFY_LINK_BASE}/reviews/break-glass/{row.uuid}/"


@transaction.atomic
def break_glass_start(
    *, identity: Identity, actor, scopes: list[str], reason: str, task, duration_seconds: int | None = None,
    request=None,
) -> BreakGlass:  # fmt: skip
    """Grant the owner `scopes` on `task` at once, for at most the break-glass cap."""
    if isinstance(actor, actors.Actor) or actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(ERR_NOT_OWNER)
    if not is_current_owner(identity, actor):
        raise PermissionDenied(ERR_NOT_OWNER)
    reason = _text(reason, "reason", ERR_REASON)
    cap = min(settings.REVIEWS_BREAK_GLASS_MAX_SECONDS, 3600)
    duration = cap if duration_seconds is None else duration_seconds
    if isinstance(duration, bool) or not isinstance(duration, int) or not 0 < duration <= cap:
        raise invalid("duration_seconds", ERR_DURATION.format(cap=cap))
    pairs = facts.tools_for(scopes)
    identity = Identity.objects.select_for_update().get(pk=identity.pk)  # serialises two owners at once
    if identity.status != IdentityStatus.ACTIVE:
        raise Conflict(ERR_IDENTITY.format(status=identity.get_status_display().lower()))
    aup = facts.current_aup(identity)
    for tool, action in pairs:
        if aup is None or not facts.aup_allows(aup, tool):
            raise invalid("scopes", f"The acceptable-use record does not allow {tool.key}.")
        if tool.production_secrets and not _production_secrets_allowed(identity, tool, action):
            raise invalid("scopes", ERR_PRODUCTION_SECRET.format(key=tool.key))
    now = timezone.now()
    active = BreakGlass.objects.filter(identity=identity, superseded_at__isnull=True).select_related("grant").first()
    if active is not None:
        live = active.grant.ended_at is None and active.grant.ends_at > now
        if live:
            raise Conflict(ERR_ACTIVE.format(until=active.grant.ends_at))
        active.superseded_at = now
        active.save(update_fields=["superseded_at"])
    task = _task(identity, task, actor)
    names = [f"{tool.key}:{action}" for tool, action in pairs]
    grant = grant_create(
        identity=identity, task=task, entries=[(tool, action, {}) for tool, action in pairs],
        ends_at=now + timedelta(seconds=duration), actor=actor, reason=f"break-glass: {reason}"[:2000],
        request=request,
    )  # fmt: skip
    row = BreakGlass.objects.create(
        identity=identity, task=task, grant=grant, person=actor, scopes=names, reason=reason,
        started_at=grant.starts_at, ends_at=grant.ends_at,
    )  # fmt: skip
    to = _approvers_and_analysts(identity)
    if to:
        email_digest(
            to=to,
            subject=f"Break-glass on {identity.name} by {actor.get_username()}"[:200],
            intro=f"{actor.get_username()} gave themself emergency access without an approver. Review it after "
            "the fact (someone who is neither them nor an owner closes the review):",
            items=[f"Identity: {identity.name}", f"Access: {', '.join(names)}", f"Task: {task.name}",
                   f"Until: {grant.ends_at:%Y-%m-%d %H:%M} UTC", f"Why: {reason[:300]}",
                   f"Review it (sign in first): {_link(row)}"],
            dedupe_key=f"{NOTIFY_KIND}:{row.uuid}",
        )  # fmt: skip
    audit_record(
        actor=actor, action="break_glass.start", target=row, request=request,
        object_label=f"{identity.name}: {', '.join(names)}",
        changes={"task": str(task.uuid), "grant": str(grant.uuid), "scopes": names, "reason": reason,
                 "ends_at": grant.ends_at, "notified": len(to)},
    )  # fmt: skip
    return row


def may_close(row: BreakGlass, person) -> str | None:
    """Why `person` may not close this review (None: they may)."""
    if person.pk == row.person_id:
        return ERR_CLOSER_SELF
    if is_current_owner(row.identity, person):
        return ERR_CLOSER_OWNER
    if not roles_of(person) & CLOSERS:
        return ERR_CLOSER_ROLE
    return None


def reviews_visible_to(user) -> QuerySet[BreakGlass]:
    """The break-glass records the review list shows `user`: those of identities they may view, when they
    close reviews or audit (REVIEW_READERS); nothing for anyone else."""
    if not roles_of(user) & REVIEW_READERS:
        return BreakGlass.objects.none()
    return BreakGlass.objects.filter(identity__in=Identity.objects.restrict(user, "view"))


def reviews_to_close(user) -> QuerySet[BreakGlass]:
    """The open reviews `user` may close now: `may_close` for every row at once (a closer's role, never their
    own break-glass, never one of an identity they own now)."""
    if not roles_of(user) & CLOSERS:
        return BreakGlass.objects.none()
    owned = current_ownerships().filter(person=user).values("identity_id")
    return reviews_visible_to(user).filter(closed_at__isnull=True).exclude(person=user).exclude(identity__in=owned)


@transaction.atomic
def break_glass_close(*, break_glass: BreakGlass, actor, note: str, request=None) -> BreakGlass:
    """Close the after-the-fact review with what the reviewer found."""
    row = BreakGlass.objects.select_for_update().select_related("identity").get(pk=break_glass.pk)
    refusal = may_close(row, actor)
    if refusal:
        raise PermissionDenied(refusal)
    if row.closed_at is not None:
        raise Conflict(ERR_CLOSED)
    row.close_note = _text(note, "note", ERR_NOTE)
    row.closed_at, row.closed_by = timezone.now(), actor
    row.save(update_fields=["close_note", "closed_at", "closed_by"])
    audit_record(actor=actor, action="break_glass.close", target=row, request=request,
                 changes={"note": row.close_note, "overdue": overdue(row, row.closed_at)})  # fmt: skip
    return row


@transaction.atomic
def break_glass_escalate(*, now=None) -> int:
    """Tell the security analysts and administrators, once, of each review left open past its window."""
    now = now or timezone.now()
    since = now - timedelta(seconds=settings.REVIEWS_BREAK_GLASS_REVIEW_WITHIN)
    due = list(
        BreakGlass.objects.select_for_update(skip_locked=True)
        .filter(closed_at__isnull=True, escalated_at__isnull=True, started_at__lte=since)
        .select_related("identity", "person")[:200]
    )
    if not due:
        return 0
    to = _addresses(_people(Role.SECURITY_ANALYST, Role.ADMINISTRATOR))
    for row in due:
        row.escalated_at = now
        row.save(update_fields=["escalated_at"])
        if to:
            email_digest(
                to=to,
                subject=f"Overdue: break-glass on {row.identity.name} is still unreviewed"[:200],
                intro=f"Nobody closed the review of this break-glass within "
                f"{settings.REVIEWS_BREAK_GLASS_REVIEW_WITHIN // 3600} h:",
                items=[f"By: {row.person.get_username()}", f"Access: {', '.join(row.scopes)}",
                       f"Started: {row.started_at:%Y-%m-%d %H:%M} UTC", f"Review it: {_link(row)}"],
                dedupe_key=f"{NOTIFY_KIND}.escalated:{row.uuid}",
            )  # fmt: skip
    audit_record(
        actor=actors.this_job("reviews.tasks.escalate_break_glass"), action="break_glass.escalate",
        object_type="reviews.breakglass", object_label=f"{len(due)} review(s)",
        changes={"break_glasses": [str(row.uuid) for row in due], "notified": len(to)},
    )  # fmt: skip
    return len(due)


def count_since(since, identities) -> int:
    """Break-glass use since `since` on `identities` (a queryset): what reviews.insight shows."""
    return BreakGlass.objects.filter(started_at__gte=since, identity__in=identities).count()
