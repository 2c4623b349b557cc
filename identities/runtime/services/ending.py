"""The one way to end access: each function ends a task, a grant, an entitlement or a whole identity's
authority through identities' private writes *and* revokes every unexpired token that relied on it, in one
transaction. Registry pages and API, the runtime's task endpoint, the kill switch (and later reviews and JIT)
call these; nothing else may end access.

The revocations are written first and counted in the registry write's audit entry, which stays the last
statement; if the registry refuses (already ended, not allowed), the transaction rolls them back.
"""

from __future__ import annotations

from django.db import transaction

from audit import actors
from identities.models import Entitlement, Grant, Identity, Task
from identities.runtime.services.tokens import tokens_revoke_relying_on
from identities.services.entitlements import _entitlement_replace, _entitlement_revoke
from identities.services.grants import _grant_end
from identities.services.identity import _identity_suspend
from identities.services.tasks import _task_complete

__all__ = ["entitlement_replace", "entitlement_revoke", "grant_end", "identity_suspend", "task_end"]


def _label(actor, agent_label: str | None = None) -> str:
    if agent_label:
        return agent_label
    if isinstance(actor, actors.Actor):
        return actor.label
    return actor.get_username() if actor is not None else "system"


@transaction.atomic
def task_end(
    *, task: Task, actor=None, agent_label: str | None = None, reason: str | None = None, request=None
) -> dict[str, int]:
    """Complete a task: its tokens are revoked and its grants and JIT entitlements end.

    `actor` is the person completing it; None when the agent itself does, with one of its tokens named by
    `agent_label`: the trail then names the task's identity."""
    label = _label(actor, agent_label)
    grants = Grant.objects.filter(task=task, ended_at__isnull=True).values_list("pk", flat=True)
    revoked = tokens_revoke_relying_on(
        tasks=[task.pk], grants=list(grants), reason=f"task {reason or 'completed'}", actor_label=label
    )
    reason = reason or (f"completed by {label}" if agent_label else "completed")
    extra = {"tokens_revoked": revoked, **({"credential": agent_label} if agent_label else {})}
    who = actors.identity(task.identity) if actor is None and agent_label else actor
    counts = _task_complete(task=task, actor=who, reason=reason, request=request, audit_extra=extra)
    return {"tokens": revoked, **counts}


@transaction.atomic
def grant_end(*, grant: Grant, actor, reason: str, request=None) -> int:
    """End a grant now: its JIT entitlements are revoked, and every token that rested on it. Returns the
    number of entitlements revoked."""
    revoked = tokens_revoke_relying_on(grants=[grant.pk], reason=f"grant ended: {reason}", actor_label=_label(actor))
    return _grant_end(grant=grant, actor=actor, reason=reason, request=request, audit_extra={"tokens_revoked": revoked})


@transaction.atomic
def entitlement_revoke(
    *, entitlement: Entitlement, actor, reason: str, request=None, certified: str | None = None
) -> Entitlement:
    """Revoke a standing or JIT entitlement, the credentials whose last entitlement it was and every token that
    relied on it. `certified` names the access-review decision that ordered it (reviews' fulfilment): the
    rights check on the identity was the campaign's, made when the reviewer decided."""
    revoked = tokens_revoke_relying_on(
        entitlements=[entitlement.pk], reason=f"entitlement revoked: {reason}", actor_label=_label(actor)
    )
    return _entitlement_revoke(
        entitlement=entitlement,
        actor=actor,
        reason=reason,
        request=request,
        audit_extra={"tokens_revoked": revoked},
        certified=certified,
    )


@transaction.atomic
def entitlement_replace(
    *, entitlement: Entitlement, actor, reason: str, request=None, certified: str | None = None, **changes
) -> Entitlement:
    """Revoke and grant anew (`changes`: scope, expires_at and the exception fields, as the registry's
    replacement takes them); tokens that relied on the old entitlement end, the new one may be narrower.
    `certified`: a review's reduce of a read entitlement (see entitlement_revoke)."""
    revoked = tokens_revoke_relying_on(
        entitlements=[entitlement.pk], reason=f"entitlement replaced: {reason}", actor_label=_label(actor)
    )
    return _entitlement_replace(
        entitlement=entitlement,
        actor=actor,
        reason=reason,
        request=request,
        audit_extra={"tokens_revoked": revoked},
        certified=certified,
        **changes,
    )


@transaction.atomic
def identity_suspend(*, identity: Identity, actor, reason: str, request=None) -> dict[str, int]:
    """The kill switch: every token issued to the identity or acting as it ends with its grants and tasks."""
    revoked = tokens_revoke_relying_on(
        identities=[identity.pk], reason=f"identity suspended: {reason}", actor_label=_label(actor)
    )
    return _identity_suspend(
        identity=identity, actor=actor, reason=reason, request=request, audit_extra={"tokens_revoked": revoked}
    )
