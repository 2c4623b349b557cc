"""Tasks: what an agent is doing, opened by the runtime's token exchange, closed with their grants."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agentiam.errors import Conflict
from audit import actors
from audit.trail import audit_record
from identities.models import (
    Grant,
    Identity,
    Task,
    Workflow,
)
from identities.services.grants import ERR_TASK_CLOSED, _end_grants

__all__ = [
    "task_open",
]


@transaction.atomic
def task_open(*, identity: Identity, name: str, workflow: Workflow | None = None, actor=None) -> Task:
    """The task a name refers to for this identity, created on first use (the runtime's token exchange)."""
    task, created = Task.objects.get_or_create(identity=identity, name=name, defaults={"workflow": workflow})
    if created:
        audit_record(
            actor=actor if actor is not None else actors.identity(identity),
            action="task.open",
            target=task,
            object_label=f"{identity.name}: {name}",
            changes={"identity": str(identity.uuid)},
        )
    return task


@transaction.atomic
def _task_complete(
    *, task: Task, actor=None, reason: str = "completed", request=None, audit_extra: dict | None = None
) -> dict[str, int]:
    """Close a task and end every grant and JIT entitlement bound to it, in one transaction. Private: callers
    end a task with identities.runtime's task_end, which also revokes the task's tokens. `actor`: a person,
    or an audit Actor (the task's own identity, a job) named only in the trail."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.state != Task.State.OPEN:
        raise Conflict(ERR_TASK_CLOSED)
    now = timezone.now()
    task.state, task.completed_at, task.end_reason = Task.State.COMPLETED, now, reason
    task.completed_by = actors.person(actor)
    task.save(update_fields=["state", "completed_at", "completed_by", "end_reason"])
    ended, revoked = _end_grants(Grant.objects.filter(task=task), now, actor, f"task completed: {reason}")
    audit_record(
        actor=actor,
        action="task.complete",
        target=task,
        request=request,
        object_label=f"{task.identity.name}: {task.name}",
        changes={"grants_ended": ended, "entitlements_revoked": revoked, **(audit_extra or {})},
    )
    return {"grants": ended, "entitlements": revoked}
