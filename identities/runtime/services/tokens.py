"""Ending tokens before they expire: with their task, or with a compromised signing key.

A revocation is a TokenRevocation row (append-only, one per token); decisions and introspection read it at
request time, so nothing waits on a background job.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from identities import services as registry
from identities.models import Task

_REVOKE = """
INSERT INTO runtime_tokenrevocation (jti, reason, actor_label, revoked_at)
SELECT t.jti, %(reason)s, %(actor)s, %(now)s FROM runtime_issuedtoken t
WHERE {where} AND t.expires_at > %(now)s
ON CONFLICT (jti) DO NOTHING
"""


def _revoke(where: str, params: dict, *, reason: str, actor_label: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            _REVOKE.format(where=where),
            {**params, "reason": reason[:300], "actor": actor_label[:200], "now": timezone.now()},
        )
        return cursor.rowcount


def tokens_revoke_for_key(*, kid: str, reason: str, actor_label: str = "system") -> int:
    """Every unexpired token signed with `kid` (runs inside the key change's transaction)."""
    return _revoke("t.kid = %(kid)s", {"kid": kid}, reason=reason, actor_label=actor_label)


def tokens_revoke_for_task(*, task: Task, reason: str, actor_label: str = "system") -> int:
    return _revoke("t.task_id = %(task)s", {"task": task.pk}, reason=reason, actor_label=actor_label)


def _label(actor, agent_label: str | None) -> str:
    if agent_label:
        return agent_label
    return actor.get_username() if actor is not None else "system"


@transaction.atomic
def runtime_task_complete(
    *, task: Task, actor=None, agent_label: str | None = None, reason: str | None = None, request=None
) -> dict[str, int]:
    """Complete a task: its tokens are revoked and its grants and JIT entitlements end, in one transaction.

    `actor` is the person completing it (None when the agent itself does, named by `agent_label`). The
    revocations come first so that identities' task_complete writes the audit entry as the last statement."""
    label = _label(actor, agent_label)
    revoked = tokens_revoke_for_task(task=task, reason=f"task {reason or 'completed'}", actor_label=label)
    reason = reason or (f"completed by {label}" if agent_label else "completed")
    counts = registry.task_complete(task=task, actor=actor, reason=reason, request=request)
    return {"tokens": revoked, **counts}
