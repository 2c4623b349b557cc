"""Grants: time-bound sets of JIT entitlements, each bound to one task."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict, invalid
from audit import actors
from audit.trail import audit_record
from identities.models import (
    Entitlement,
    EntitlementMode,
    EntitlementSource,
    Grant,
    Identity,
    IdentityStatus,
    Task,
    Tool,
)
from identities.scope import validate_scope
from identities.services.entitlements import ERR_ACTION_NOT_SUPPORTED, ERR_EXPIRES_PAST, ERR_IDENTITY_NOT_ACTIVE

__all__ = [
    "ERR_GRANT_ENDED",
    "ERR_TASK_CLOSED",
    "grant_create",
]

ERR_TASK_CLOSED = "This task is already closed."
ERR_GRANT_ENDED = "This grant has already ended."


def _end_grants(grants, now, actor, reason) -> tuple[int, int]:
    actor = actors.person(actor)
    grant_ids = list(grants.values_list("pk", flat=True))
    ended = Grant.objects.filter(pk__in=grant_ids, ended_at__isnull=True).update(
        ended_at=now, ended_by=actor, end_reason=reason
    )
    revoked = Entitlement.objects.filter(grant_id__in=grant_ids, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor, revoke_reason=reason
    )
    return ended, revoked


@transaction.atomic
def grant_create(
    *,
    identity: Identity,
    task: Task,
    entries: list[tuple[Tool, str, dict]],
    ends_at: datetime,
    actor,
    reason: str = "",
    request=None,
) -> Grant:
    """A time-bound set of JIT entitlements (created from an approved elevation request). `actor` is the
    approving person, or an audit Actor (an auto-approval rule) recorded only in the trail."""
    by = actors.person(actor)
    identity = Identity.objects.select_for_update().get(pk=identity.pk)
    if identity.status != IdentityStatus.ACTIVE:
        raise Conflict(ERR_IDENTITY_NOT_ACTIVE)
    now = timezone.now()
    if ends_at <= now:
        raise invalid("ends_at", ERR_EXPIRES_PAST)
    if task.state != Task.State.OPEN:
        raise Conflict(ERR_TASK_CLOSED)
    grant = Grant.objects.create(
        identity=identity, task=task, starts_at=now, ends_at=ends_at, created_by=by, reason=reason
    )
    for tool, action, scope in entries:
        if action not in tool.actions:
            raise invalid("action", ERR_ACTION_NOT_SUPPORTED.format(action=action))
        Entitlement.objects.create(
            identity=identity,
            tool=tool,
            action=action,
            scope=validate_scope(scope),
            mode=EntitlementMode.JIT,
            source=EntitlementSource.GRANT,
            grant=grant,
            granted_by=by,
            reason=reason,
            granted_at=now,
            expires_at=ends_at,
        )
    audit_record(
        actor=actor,
        action="grant.create",
        target=grant,
        request=request,
        object_label=f"{identity.name}: {len(entries)} JIT entitlement(s)",
        changes={
            "task": str(task.uuid),
            "ends_at": ends_at,
            "entries": [[t.key, a, s] for t, a, s in entries],
        },
    )
    return grant


@transaction.atomic
def _grant_end(*, grant: Grant, actor, reason: str, request=None, audit_extra: dict | None = None) -> int:
    """Private: callers end a grant with identities.runtime's grant_end, which also revokes its tokens."""
    grant = Grant.objects.select_for_update().get(pk=grant.pk)
    if grant.ended_at is not None:
        raise Conflict(ERR_GRANT_ENDED)
    _, revoked = _end_grants(Grant.objects.filter(pk=grant.pk), timezone.now(), actor, reason)
    audit_record(
        actor=actor,
        action="grant.end",
        target=grant,
        request=request,
        changes={"reason": reason, "entitlements_revoked": revoked, **(audit_extra or {})},
    )
    return revoked
