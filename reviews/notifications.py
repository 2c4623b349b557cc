"""Who is told what about elevation requests, through the shared outbox (agentiam.notifications): written in
the transaction of the change that calls for it, delivered by the worker, retried until it arrives, so
sending never blocks or fails a request.

- A new pending request: each approver it is routed to (reviews.services.facts.slots, plus the rule's
  approver group) gets an e-mail at once. Further requests for the same approver within
  REVIEWS_DIGEST_WINDOW seconds are not sent one by one: one digest ("reviews.digest" channel) goes at the
  window's end, listing what that approver may still decide then (reviews.selectors.requests_to_decide),
  and nothing at all when others decided it all meanwhile.
- A decision (the grant made, or a deny): the requester — the person who asked, or the identity's
  accountable owners when the agent asked for itself — is told who decided and what was granted until when.
- A pending request REVIEWS_REMIND_BEFORE seconds from expiring: its open approvers are reminded, once
  (`remind_due`, a beat job).
- A request that expired unanswered: its requester (as for a decision) is told nobody decided it, once,
  after the sweep marked it (`notify_expired`, run by the beat job that expires requests, in its transaction).
- With REVIEWS_WEBHOOK_URL set, each of these also goes to that webhook (signed, Slack-compatible `text`).

Every message carries a link to the request in the inbox, never a way to decide: approving needs a signed-in
person, their second factor and the separation-of-duties checks, which no link may bypass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agentiam import outbox
from agentiam.models import OutboxMessage
from agentiam.notifications import email_digest, webhook_send
from identities.models import OwnershipRole, current_ownerships
from reviews import rules
from reviews.models import Decision, ElevationRequest, RequestState
from reviews.services import facts

__all__ = [
    "DIGEST_KIND",
    "inbox_link",
    "notify_decided",
    "notify_expired",
    "notify_requested",
    "remind_due",
    "request_link",
]

log = logging.getLogger(__name__)
DIGEST_KIND = "reviews.digest"
ASKED_KEY = "reviews.asked:{person}:{request}"
REMIND_KEY = "reviews.remind:"
EXPIRED_KEY = "reviews.expired:"
EXPIRED_TOLD_WITHIN = 86400  # expired longer ago than this (the job was down a day): not told any more


# --- links ----------------------------------------------------------------------------------------------------


def _path(name: str, args: list, fallback: str) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:  # the inbox pages are not installed: their documented paths
        return fallback


def request_link(found: ElevationRequest) -> str:
    path = _path("reviews:request", [found.uuid], f"/reviews/requests/{found.uuid}/")
    return settings.NOTIFY_LINK_BASE + path


def inbox_link() -> str:
    return settings.NOTIFY_LINK_BASE + _path("reviews:inbox", [], "/reviews/inbox/")


# --- words ----------------------------------------------------------------------------------------------------


def _name(person) -> str:
    return (person.get_full_name() or person.username) if person is not None else "someone"


def _duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{max(minutes, 1)} min"


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _requester(found: ElevationRequest) -> str:
    return _name(found.requested_by) if found.requested_by_id else f"{found.identity.name} (the agent itself)"


def _subject(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:199] + "…"


def _lines(found: ElevationRequest) -> list[str]:
    identity = found.identity
    return [
        f"Identity: {identity.name} ({identity.get_risk_tier_display().lower()} risk)",
        f"Asks for: {', '.join(found.scopes)}" + (f" within {found.scope}" if found.scope else ""),
        f"Task: {found.task.name}",
        f"For: {_duration(found.duration_seconds)}, urgency {found.urgency}",
        f"Why: {found.justification[:300]}",
        f"Unanswered, it expires at {_when(found.expires_at)}",
        f"Open it (sign in first): {request_link(found)}",
    ]


# --- recipients -----------------------------------------------------------------------------------------------


def _addressable(people: Iterable) -> list:
    found = []
    for person in people:
        if not person.is_active or not person.email:
            continue
        try:
            validate_email(person.email)
        except ValidationError:
            continue
        found.append(person)
    return found


def approvers(found: ElevationRequest) -> list:
    """Who may decide the request's open slots now: routing's answer, plus the rule's approver group."""
    group_id = found.rule.approver_group_id if found.rule_id else None
    ids = set(facts.slots(found, group_id))
    people = list(get_user_model().objects.filter(pk__in=ids))
    if group_id is not None:
        barred = facts.asked(found)
        for person in get_user_model().objects.filter(groups=group_id, is_active=True).order_by("pk")[:50]:
            if person.pk not in ids and rules.may_decide(facts.candidate(person.pk, group_id), barred):
                people.append(person)
    return _addressable(sorted(people, key=lambda person: person.pk))


def _requesters(found: ElevationRequest) -> list:
    if found.requested_by_id:
        return _addressable([found.requested_by])
    owners = current_ownerships().filter(identity_id=found.identity_id, role=OwnershipRole.ACCOUNTABLE)
    return _addressable(get_user_model().objects.filter(pk__in=owners.values("person_id")).order_by("pk"))


# --- webhook ----------------------------------------------------------------------------------------------------


def _hook(event: str, found: ElevationRequest, text: str, **data) -> None:
    if not settings.REVIEWS_WEBHOOK_URL:
        return
    document = {
        "request": str(found.uuid),
        "identity": found.identity.name,
        "scopes": found.scopes,
        "state": found.state,
        "link": request_link(found),
        **data,
    }
    try:
        webhook_send(
            url=settings.REVIEWS_WEBHOOK_URL,
            event=event,
            data=document,
            text=f"{text} — {request_link(found)}",
            dedupe_key=f"reviews.hook:{event}:{found.uuid}",
        )
    except (ValidationError, ImproperlyConfigured) as error:  # a bad setting must never refuse the request
        log.error("REVIEWS_WEBHOOK_URL not used: %s", error)


# --- a new request ----------------------------------------------------------------------------------------------


def notify_requested(found: ElevationRequest) -> None:
    """Tell the approvers of a new pending request (inside the transaction that made it)."""
    if found.state != RequestState.PENDING:
        return
    window = timedelta(seconds=settings.REVIEWS_DIGEST_WINDOW)
    now = timezone.now()
    for person in approvers(found):
        prefix = ASKED_KEY.format(person=person.pk, request="")
        last = (
            OutboxMessage.objects.filter(dedupe_key__startswith=prefix, created_at__gt=now - window)
            .order_by("-created_at")
            .first()
        )
        if last is None:
            email_digest(
                to=[person.email],
                subject=_subject(f"Elevation request: {found.identity.name} asks for {', '.join(found.scopes)}"),
                intro=f"{_requester(found)} asks for just-in-time access, and you are an approver:",
                items=_lines(found),
                dedupe_key=ASKED_KEY.format(person=person.pk, request=found.uuid),
            )
        else:  # told a moment ago: what follows waits for one digest at the end of the window
            outbox.enqueue(
                kind=DIGEST_KIND,
                destination=person.email,
                payload={"person": person.pk, "since": last.created_at.isoformat()},
                dedupe_key=f"reviews.digest:{person.pk}:{last.uuid}",
                deliver_at=last.created_at + window,
            )
    _hook(
        "elevation_request.created",
        found,
        f"{_requester(found)} asks for {', '.join(found.scopes)} on {found.identity.name}",
        urgency=found.urgency,
        expires_at=found.expires_at.isoformat(),
    )


def deliver_digest(message: OutboxMessage) -> None:
    """At the window's end: what the approver may still decide of the requests that arrived since."""
    from reviews.selectors import requests_to_decide  # at delivery: the selectors read the services' facts

    person = get_user_model().objects.filter(pk=message.payload["person"], is_active=True).first()
    since = parse_datetime(message.payload["since"])
    if person is None or not person.email:
        return
    waiting = list(requests_to_decide(person).filter(created_at__gt=since).select_related("identity", "task"))
    if not waiting:
        return  # decided by others meanwhile (or no longer theirs): nothing to say
    lines = [f"{r.identity.name}: {', '.join(r.scopes)} — {r.urgency}, {request_link(r)}" for r in waiting]
    body = "\n".join(
        [
            f"{len(waiting)} more elevation request(s) wait for your decision:",
            "",
            *(f"- {line}" for line in lines),
            "",
            f"All of them in your inbox (sign in first): {inbox_link()}",
            "",
            "— AgentIAM",
        ]
    )
    EmailMessage(
        subject=f"{len(waiting)} elevation request(s) wait for you",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
        headers={"X-AgentIAM-Delivery": str(message.uuid)},
    ).send()


outbox.register_channel(DIGEST_KIND, deliver_digest)


# --- a decision -------------------------------------------------------------------------------------------------


def notify_decided(found: ElevationRequest) -> None:
    """Tell the requester who decided and what was granted (inside the deciding transaction)."""
    approvals = list(found.approvals.select_related("approver").order_by("decided_at", "pk"))
    if found.state == RequestState.APPROVED:
        approvers_said = [a for a in approvals if a.decision == Decision.APPROVE]
        who = ", ".join(_name(a.approver) for a in approvers_said) or "an approval rule"
        items = [
            f"Approved by: {who}",
            f"Granted: {', '.join(found.granted_scopes or [])}"
            + (f" within {found.granted_scope}" if found.granted_scope else ""),
            f"For: {_duration(found.granted_duration_seconds or 0)}, until {_when(found.grant.ends_at)}",
            f"Task: {found.task.name}",
            *(f"{_name(a.approver)} said: {a.comment[:300]}" for a in approvers_said if a.comment),
        ]
        if found.granted_scopes != found.scopes or found.granted_duration_seconds != found.duration_seconds:
            asked_for = f"{', '.join(found.scopes)}, {_duration(found.duration_seconds)}"
            items.insert(1, f"Asked for: {asked_for} (less was granted)")
        verb = "approved"
    elif found.state == RequestState.DENIED:
        deny = next((a for a in approvals if a.decision == Decision.DENY), None)
        who = _name(deny.approver) if deny else "an approver"
        items = [f"Denied by: {who}", f"Asked for: {', '.join(found.scopes)}", f"Task: {found.task.name}"]
        if deny and deny.comment:
            items.append(f"{who} said: {deny.comment[:300]}")
        verb = "denied"
    else:
        return
    items.append(f"Open it (sign in first): {request_link(found)}")
    recipients = _requesters(found)
    if recipients:
        email_digest(
            to=[person.email for person in recipients],
            subject=_subject(f"Elevation request {verb}: {found.identity.name}, {', '.join(found.scopes)}"),
            intro=f"The elevation request for {found.identity.name} was {verb}.",
            items=items,
            dedupe_key=f"reviews.decided:{found.uuid}",
        )
    _hook(f"elevation_request.{verb}", found, f"{found.identity.name}: {verb} by {who}", decided_by=who)


# --- reminders --------------------------------------------------------------------------------------------------


def remind_due(*, now=None, limit: int = 200) -> int:
    """Remind the open approvers of pending requests that expire within REVIEWS_REMIND_BEFORE, once each
    (the reminder's dedupe key is the request's, so a second run or a second worker sends nothing more)."""
    now = now or timezone.now()
    reminded = OutboxMessage.objects.filter(
        dedupe_key=Concat(Value(REMIND_KEY), Cast(OuterRef("uuid"), output_field=CharField()))
    )
    due = (
        ElevationRequest.objects.filter(
            state=RequestState.PENDING,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(seconds=settings.REVIEWS_REMIND_BEFORE),
        )
        .exclude(Exists(reminded))
        .select_related("identity", "task", "rule", "requested_by")
        .order_by("expires_at")[:limit]
    )
    sent = 0
    for found in due:
        expires = _when(found.expires_at)
        with transaction.atomic():
            people = approvers(found)
            if people:
                email_digest(
                    to=[person.email for person in people],
                    subject=_subject(f"Reminder: {found.identity.name}'s elevation request expires at {expires}"),
                    intro=f"{_requester(found)}'s request still waits for a decision, and expires unanswered soon:",
                    items=_lines(found),
                    dedupe_key=f"{REMIND_KEY}{found.uuid}",
                )
                sent += 1
            _hook("elevation_request.reminder", found, f"{found.identity.name}'s request expires at {expires}")
    return sent


# --- expired unanswered -----------------------------------------------------------------------------------------


def notify_expired(*, now=None, limit: int = 200) -> int:
    """Tell the requester of each request the sweep marked expired that nobody decided it, once (the message's
    dedupe key is the request's, so a second run or a second worker sends nothing more)."""
    now = now or timezone.now()
    told = OutboxMessage.objects.filter(
        dedupe_key=Concat(Value(EXPIRED_KEY), Cast(OuterRef("uuid"), output_field=CharField()))
    )
    due = (
        ElevationRequest.objects.filter(
            state=RequestState.EXPIRED, decided_at__gt=now - timedelta(seconds=EXPIRED_TOLD_WITHIN)
        )
        .exclude(Exists(told))
        .select_related("identity", "task", "requested_by")
        .order_by("decided_at", "pk")[:limit]
    )
    sent = 0
    for found in due:
        recipients = _requesters(found)
        if recipients:
            email_digest(
                to=[person.email for person in recipients],
                subject=_subject(
                    f"Elevation request expired unanswered: {found.identity.name}, {', '.join(found.scopes)}"
                ),
                intro=f"Nobody decided the elevation request for {found.identity.name} before it expired at "
                f"{_when(found.expires_at)}: nothing was granted. Ask again if the task still needs it.",
                items=[
                    f"Asked for: {', '.join(found.scopes)}" + (f" within {found.scope}" if found.scope else ""),
                    f"Task: {found.task.name}",
                    f"Asked by: {_requester(found)}, {_when(found.created_at)}",
                    f"Open it (sign in first): {request_link(found)}",
                ],
                dedupe_key=f"{EXPIRED_KEY}{found.uuid}",
            )
            sent += 1
        _hook("elevation_request.expired", found, f"{found.identity.name}'s request expired unanswered")
    return sent
