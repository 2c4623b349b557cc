"""Triage of alerts — assign, acknowledge, resolve with a reason, suppress until a date — and suspending the
alert's identity with the registry's kill switch. Each is one transaction with its audit entry.

Who: security analysts, never on an identity they own (separation of duties: nobody closes an alert about
their own agent). A resolved alert is final. The first triage change sets `triaged_at` (time-to-triage).
Suspending from an alert is for whoever may suspend the identity (identities.rules, Right.SUSPEND: its owners,
administrators, security analysts) and goes through identities.runtime.services.ending.identity_suspend."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from agentiam.permissions import Role, roles_of
from audit.alerts.models import Alert, AlertState
from audit.alerts.selectors import TRIAGERS
from audit.trail import audit_record
from identities.runtime.services import ending
from identities.services import is_current_owner

ERR_TRIAGE_ROLE = "Only security analysts triage alerts."
ERR_OWN_IDENTITY = "You own this identity: another analyst triages its alerts."
ERR_RESOLVED = "This alert is resolved; it does not change any more."
ERR_ALREADY_ACKNOWLEDGED = "This alert is already acknowledged."
ERR_REASON = "Say why."
ERR_ASSIGNEE = "Assign to an active security analyst."
ERR_UNTIL_PAST = "Suppress until a moment in the future."
ERR_UNTIL_FAR = "Suppress for at most 90 days."
MAX_SUPPRESS = timedelta(days=90)


def may_triage(alert: Alert, actor) -> str | None:
    """Why `actor` may not triage `alert`, or None."""
    if not roles_of(actor) & TRIAGERS:
        return ERR_TRIAGE_ROLE
    if is_current_owner(alert.identity, actor):
        return ERR_OWN_IDENTITY
    return None


def _locked(alert: Alert, actor) -> Alert:
    alert = Alert.objects.select_for_update().select_related("identity").get(pk=alert.pk)
    refusal = may_triage(alert, actor)
    if refusal:
        raise PermissionDenied(refusal)
    if alert.state == AlertState.RESOLVED:
        raise Conflict(ERR_RESOLVED)
    return alert


def _save(alert: Alert, actor, action: str, changes: dict, request) -> Alert:
    now = timezone.now()
    first = alert.triaged_at is None
    if first:
        alert.triaged_at = now
    alert.changed_by, alert.changed_at = actor, now
    alert.save()
    if first:
        changes["time_to_triage_seconds"] = round((now - alert.raised_at).total_seconds())
    audit_record(actor=actor, action=f"alert.{action}", target=alert, request=request, changes=changes)
    return alert


@transaction.atomic
def alert_assign(*, alert: Alert, actor, assignee, request=None) -> Alert:
    alert = _locked(alert, actor)
    people = get_user_model().objects.filter(is_active=True, groups__name=Role.SECURITY_ANALYST.value)
    if assignee is None or not people.filter(pk=assignee.pk).exists():
        raise invalid("assignee", ERR_ASSIGNEE)
    was = alert.assignee.username if alert.assignee else None
    alert.assignee = assignee
    return _save(alert, actor, "assign", {"assignee": {"was": was, "now": assignee.username}}, request)


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor, request=None) -> Alert:
    alert = _locked(alert, actor)
    if alert.state == AlertState.ACKNOWLEDGED:
        raise Conflict(ERR_ALREADY_ACKNOWLEDGED)
    was = alert.state
    alert.state, alert.acknowledged_at = AlertState.ACKNOWLEDGED, timezone.now()
    if alert.assignee is None:
        alert.assignee = actor
    return _save(alert, actor, "acknowledge", {"state": {"was": was, "now": alert.state}}, request)


@transaction.atomic
def alert_resolve(*, alert: Alert, actor, reason: str, request=None) -> Alert:
    alert = _locked(alert, actor)
    if not (reason or "").strip():
        raise invalid("reason", ERR_REASON)
    was = alert.state
    alert.state, alert.resolved_at, alert.resolution = AlertState.RESOLVED, timezone.now(), reason.strip()
    return _save(alert, actor, "resolve", {"state": {"was": was, "now": alert.state}, "reason": alert.resolution},
                 request)  # fmt: skip


@transaction.atomic
def alert_suppress(*, alert: Alert, actor, until: datetime | None, reason: str, request=None) -> Alert:
    """Quiet until `until`: it leaves the analysts' count and returns to it then. Alerts of the same rule and
    identity raised meanwhile are stored suppressed too (audit.alerts.evaluate)."""
    alert = _locked(alert, actor)
    now = timezone.now()
    if until is None or until <= now:
        raise invalid("until", ERR_UNTIL_PAST)
    if until > now + MAX_SUPPRESS:
        raise invalid("until", ERR_UNTIL_FAR)
    if not (reason or "").strip():
        raise invalid("reason", ERR_REASON)
    was = alert.state
    alert.state, alert.suppressed_until, alert.suppress_reason = AlertState.SUPPRESSED, until, reason.strip()
    changes = {"state": {"was": was, "now": alert.state}, "until": until.isoformat(), "reason": alert.suppress_reason}
    return _save(alert, actor, "suppress", changes, request)


@transaction.atomic
def alert_suspend_identity(*, alert: Alert, actor, reason: str, request=None) -> dict[str, int]:
    """The kill switch from an alert: the registry's suspension (its own checks and audit entry), and an entry
    on the alert saying it was the reason."""
    alert = Alert.objects.select_for_update().select_related("identity").get(pk=alert.pk)
    counts = ending.identity_suspend(
        identity=alert.identity,
        actor=actor,
        reason=f"{reason.strip()} (alert {alert.uuid})" if reason.strip() else "",
        request=request,
    )
    alert.changed_by, alert.changed_at = actor, timezone.now()
    alert.save(update_fields=["changed_by", "changed_at"])
    audit_record(actor=actor, action="alert.suspend_identity", target=alert, request=request,
                 changes={"identity": str(alert.identity.uuid), "reason": reason.strip(), **counts})  # fmt: skip
    return counts
