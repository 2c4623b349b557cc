"""Revoking tokens before they expire: every unexpired token that relied on what ended, or that a compromised
signing key signed.

A revocation is a TokenRevocation row (append-only, one per token); decisions and introspection read it at
request time, so nothing waits on a background job. These run inside the caller's transaction: the public
ways to end access are in identities.runtime.services.ending.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

__all__ = [
    "tokens_revoke_for_key",
    "tokens_revoke_relying_on",
]

_REVOKE = """
INSERT INTO runtime_tokenrevocation (jti, reason, actor_label, revoked_at)
SELECT t.jti, %(reason)s, %(actor)s, %(now)s FROM runtime_issuedtoken t
WHERE ({where}) AND t.expires_at > %(now)s
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


def tokens_revoke_relying_on(
    *,
    reason: str,
    actor_label: str = "system",
    tasks: Iterable[int] = (),
    grants: Iterable[int] = (),
    entitlements: Iterable[int] = (),
    identities: Iterable[int] = (),
) -> int:
    """Every unexpired token issued for one of `tasks`, resting on one of `grants` or `entitlements`, or
    issued to (or acting as) one of `identities` — ids. Returns how many were revoked now."""
    clauses, params = [], {}
    for name, ids, clause in (
        ("tasks", tasks, "t.task_id = ANY(%(tasks)s)"),
        ("grants", grants, "t.grants && %(grants)s::bigint[]"),
        ("entitlements", entitlements, "t.entitlements && %(entitlements)s::bigint[]"),
        ("identities", identities, "t.identity_id = ANY(%(identities)s) OR t.actor_id = ANY(%(identities)s)"),
    ):
        ids = sorted(set(ids))
        if ids:
            clauses.append(clause)
            params[name] = ids
    if not clauses:
        return 0
    return _revoke(" OR ".join(clauses), params, reason=reason, actor_label=actor_label)
