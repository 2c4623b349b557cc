"""Per-call re-authorisation: the mode (per identity or per risk tier), the one statement `decide` runs for a
call the mode gates, deciding a call authorisation (reviews calls it after its separation-of-duties checks),
and the latency of the whole path.

A gated call — policy allowed it, its action writes, administers or executes, its identity is in the mode —
either consumes an approval (one conditional UPDATE: two concurrent calls cannot both use it) or opens, or
finds, the pending request for exactly this call, and is denied with an AuthZEN access-request context
(after the OpenID AuthZEN *Access Request and Approval* draft). Both happen in one statement, so a gated call
costs one more round trip than any other, and a call that is not gated costs nothing more.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agentiam.errors import Conflict, PermissionDenied, invalid
from agentiam.permissions import Role, roles_of
from audit import actors
from audit.trail import audit_record
from identities.models import Identity, RiskTier, current_ownerships
from identities.runtime import lookups
from identities.runtime.models import (
    APPROVAL_WINDOW_SECONDS,
    PENDING_SECONDS,
    REAUTHORISED_ACTIONS,
    CallAuthorisation,
    CallState,
    Gateway,
    PerCallMode,
)

__all__ = [
    "ERR_CALL_CLOSED",
    "ERR_CALL_EXPIRED",
    "ERR_MODE_EXISTS",
    "ERR_MODE_OWNER",
    "ERR_MODE_TARGET",
    "ERR_MODE_WRITERS",
    "MODE_WRITERS",
    "RETRY_AFTER_SECONDS",
    "Latency",
    "Settled",
    "call_authorisation_decide",
    "call_latency",
    "gated",
    "per_call_mode_create",
    "resource_digest",
    "settle",
]

MODE_WRITERS = frozenset({Role.ADMINISTRATOR, Role.SECURITY_ANALYST})
RETRY_AFTER_SECONDS = 5  # what a polling gateway is told to wait; no long-held connections
ERR_MODE_WRITERS = "Only an administrator or a security analyst may set per-call re-authorisation."
ERR_MODE_OWNER = "Nobody sets per-call re-authorisation on an identity they own."
ERR_MODE_TARGET = "Give either an identity or a risk tier."
ERR_MODE_EXISTS = "Per-call re-authorisation is already on for {what}."
ERR_CALL_CLOSED = "This call authorisation is {state}: it can no longer be decided."
ERR_CALL_EXPIRED = "This call authorisation lapsed unanswered at {at:%Y-%m-%d %H:%M} UTC: the agent will ask again."
ERR_COMMENT = "A comment is at most 2000 characters."


def resource_digest(resource: dict[str, str]) -> str:
    """The digest an approval is bound to: the resource attributes, canonical (sorted keys, compact)."""
    text = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def gated(identity: dict[str, Any] | None, action: str) -> bool:
    """Does this call need its own approval? (The lookup says whether the identity is in the mode.)"""
    return identity is not None and bool(identity.get("per_call")) and action in REAUTHORISED_ACTIONS


# One statement: consume a live approval for exactly this call, or else open (or find, renewing it when it
# lapsed) the one pending request for it. A concurrent caller blocked on the approved row re-checks `state`
# after the first one commits and finds nothing to consume, so it asks again.
_SETTLE = """
WITH used AS (
    UPDATE runtime_callauthorisation
       SET state = 'consumed', consumed_at = %(now)s::timestamptz, consumed_decision = %(decision)s::uuid
     WHERE identity_id = %(identity)s::bigint AND task_id IS NOT DISTINCT FROM %(task)s::bigint
       AND tool_key = %(tool_key)s::text AND action = %(action)s::text AND resource_digest = %(digest)s::text
       AND state = 'approved' AND valid_until > %(now)s::timestamptz
     RETURNING uuid, state, expires_at, true AS created, false AS opened
), asked AS (
    INSERT INTO runtime_callauthorisation AS c (
        uuid, identity_id, actor_id, task_id, gateway_id, tool_id, tool_key, action, resource, resource_digest,
        evaluation_id, state, requested_at, expires_at, comment)
    SELECT %(uuid)s::uuid, %(identity)s::bigint, %(actor)s::bigint, %(task)s::bigint, %(gateway)s::bigint,
           %(tool)s::bigint, %(tool_key)s::text, %(action)s::text, %(resource)s::jsonb, %(digest)s::text,
           %(decision)s::uuid, 'pending', %(now)s::timestamptz, %(expires)s::timestamptz, ''
     WHERE NOT EXISTS (SELECT 1 FROM used)
    ON CONFLICT (identity_id, task_id, tool_key, action, resource_digest) WHERE state = 'pending'
    DO UPDATE SET
        requested_at = CASE WHEN c.expires_at <= EXCLUDED.requested_at THEN EXCLUDED.requested_at ELSE c.requested_at END,
        evaluation_id = CASE WHEN c.expires_at <= EXCLUDED.requested_at THEN EXCLUDED.evaluation_id ELSE c.evaluation_id END,
        expires_at = CASE WHEN c.expires_at <= EXCLUDED.requested_at THEN EXCLUDED.expires_at ELSE c.expires_at END
    RETURNING uuid, state, expires_at, (xmax = 0) AS created, (c.requested_at = %(now)s::timestamptz) AS opened
)
SELECT uuid::text, state, extract(epoch FROM expires_at)::float8, created, opened FROM used
UNION ALL SELECT uuid::text, state, extract(epoch FROM expires_at)::float8, created, opened FROM asked
"""  # noqa: E501


@dataclass(frozen=True)
class Settled:
    """What the gated call got: an approval used (allowed) or a pending request (denied, ask again later)."""

    authorisation: str
    consumed: bool
    expires_at: datetime
    created: bool
    opened: bool = False  # a request for approval began with this call (new, or a lapsed one renewed)

    def context(self, evaluation_id: str) -> dict[str, Any]:
        """The AuthZEN access-request context of a deny (Access Request and Approval draft)."""
        base = settings.RUNTIME_ISSUER
        return {
            "evaluation_id": evaluation_id,
            "access_request": {
                "id": self.authorisation,
                "state": "pending",
                "endpoint": f"{base}/api/v1/runtime/access-requests/{self.authorisation}",
                "form_url": f"{base}/reviews/calls/{self.authorisation}/",
                "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
                "retry_after": RETRY_AFTER_SECONDS,
            },
        }


def settle(
    *, identity_id: int, actor_id: int | None, task_id: int | None, gateway_id: int, tool_id: int, tool_key: str,
    action: str, resource: dict[str, str], decision_id, now: datetime,
) -> Settled:  # fmt: skip
    row = lookups.fetch_one(
        _SETTLE,
        {
            "uuid": str(uuid.uuid4()), "identity": identity_id, "actor": actor_id, "task": task_id,
            "gateway": gateway_id, "tool": tool_id, "tool_key": tool_key, "action": action,
            "resource": json.dumps(resource), "digest": resource_digest(resource), "decision": str(decision_id),
            "now": now, "expires": now + timedelta(seconds=PENDING_SECONDS),
        },
    )  # fmt: skip
    settled = Settled(row[0], row[1] == CallState.CONSUMED, lookups.at(row[2]), bool(row[3]), bool(row[4]))
    if settled.opened:
        _audit_opened(settled, identity_id=identity_id, actor_id=actor_id, gateway_id=gateway_id,
                      tool_key=tool_key, action=action, resource=resource, renewed=not settled.created)  # fmt: skip
    return settled


def _audit_opened(
    settled: Settled, *, identity_id: int, actor_id: int | None, gateway_id: int, tool_key: str, action: str,
    resource: dict[str, str], renewed: bool,
) -> None:  # fmt: skip
    """A call asked for approval: the trail names the identity that made it. Only when a request begins (not
    on every poll of the same pending one), so the hot path pays it once per call asked about."""
    rows = Identity.objects.filter(pk__in={identity_id, actor_id} - {None}).only("uuid", "name")
    found = {row.pk: row for row in rows}
    identity, acting = found[identity_id], found.get(actor_id)
    gateway = Gateway.objects.filter(pk=gateway_id).values_list("uuid", flat=True).first()
    audit_record(
        actor=actors.identity(acting or identity),
        action="call_authorisation.request",
        object_type="runtime.callauthorisation",
        object_id=settled.authorisation,
        object_label=f"{identity.name}: {tool_key}:{action}"[:300],
        changes={
            "identity": str(identity.uuid), "actor": str(acting.uuid) if acting else None,
            "gateway": str(gateway) if gateway else None, "tool": tool_key, "action": action,
            "resource": resource, "expires_at": settled.expires_at.isoformat(), "renewed": renewed,
        },
    )  # fmt: skip


# --- the mode ---------------------------------------------------------------------------------------------


def _require_mode_writer(actor, identity: Identity | None) -> None:
    if not roles_of(actor) & MODE_WRITERS:
        raise PermissionDenied(ERR_MODE_WRITERS)
    if identity is not None and current_ownerships().filter(identity=identity, person=actor).exists():
        raise PermissionDenied(ERR_MODE_OWNER)


@transaction.atomic
def per_call_mode_create(
    *, actor, identity: Identity | None = None, risk_tier: str = "", description: str = "", request=None
) -> PerCallMode:
    """Turn per-call re-authorisation on for one identity, or for every identity of a risk tier."""
    _require_mode_writer(actor, identity)
    risk_tier = risk_tier or ""
    if (identity is None) == (not risk_tier):
        raise invalid("identity", ERR_MODE_TARGET)
    if risk_tier and risk_tier not in RiskTier.values:
        raise invalid("risk_tier", f"One of {', '.join(RiskTier.values)}.")
    with connection.cursor() as cursor:  # one enabled row per identity or tier: one check at a time
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('agentiam-runtime-per-call-mode'))")
    live = PerCallMode.objects.enabled()
    if live.filter(identity=identity, risk_tier=risk_tier).exists():
        target = identity.name if identity is not None else f"the {risk_tier} tier"
        raise invalid("identity" if identity is not None else "risk_tier", ERR_MODE_EXISTS.format(what=target))
    row = PerCallMode.objects.create(identity=identity, risk_tier=risk_tier, description=description, created_by=actor)
    changes = {"identity": str(identity.uuid) if identity is not None else None, "risk_tier": risk_tier or None}
    audit_record(actor=actor, action="per_call_mode.create", target=row, request=request, changes=changes)
    return row


def require_mode_disabler(actor, row: PerCallMode) -> None:
    """config_disable's check for this kind of row."""
    _require_mode_writer(actor, row.identity)


# --- deciding a call authorisation ------------------------------------------------------------------------


@transaction.atomic
def call_authorisation_decide(
    *, call: CallAuthorisation, actor, approve: bool, comment: str = "", request=None
) -> CallAuthorisation:
    """Approve (one matching call within 5 minutes) or deny a pending call authorisation. The caller
    (reviews.services.calls) has checked separation of duties; the database checks it again."""
    if not isinstance(comment, str) or len(comment) > 2000 or "\x00" in comment:
        raise invalid("comment", ERR_COMMENT)
    found = CallAuthorisation.objects.select_for_update().get(pk=call.pk)
    now = timezone.now()
    if found.state != CallState.PENDING:
        raise Conflict(ERR_CALL_CLOSED.format(state=found.get_state_display().lower()))
    if found.expires_at <= now:
        raise Conflict(ERR_CALL_EXPIRED.format(at=found.expires_at))
    found.state = CallState.APPROVED if approve else CallState.DENIED
    found.decided_at, found.decided_by, found.comment = now, actor, comment
    found.valid_until = now + timedelta(seconds=APPROVAL_WINDOW_SECONDS) if approve else None
    found.save(update_fields=["state", "decided_at", "decided_by", "comment", "valid_until"])
    audit_record(
        actor=actor,
        action="call_authorisation.approve" if approve else "call_authorisation.deny",
        target=found,
        request=request,
        changes={
            "identity": str(found.identity.uuid), "tool": found.tool_key, "action": found.action,
            "resource": found.resource, "comment": comment,
            "valid_until": found.valid_until.isoformat() if found.valid_until else None,
        },
    )  # fmt: skip
    return found


# --- latency ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Request → approval → allowed call, in seconds, over calls allowed in the window; and the requests of the
    window that lapsed unanswered."""

    count: int
    median: float | None
    p90: float | None
    approve_median: float | None  # request → approval alone
    p95: float | None = None
    approve_p95: float | None = None
    lapsed: int = 0  # pending requests whose expiry passed in the window, nobody having answered

    @property
    def empty(self) -> bool:
        return not self.count and not self.lapsed


_LATENCY = """
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM consumed_at - requested_at)),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM consumed_at - requested_at)),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - requested_at)),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM consumed_at - requested_at)),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM decided_at - requested_at)),
       (SELECT count(*) FROM runtime_callauthorisation
         WHERE state = 'pending' AND expires_at > %(since)s AND expires_at <= %(now)s
           AND (%(all)s OR identity_id = ANY(%(identities)s::bigint[])))
FROM runtime_callauthorisation
WHERE state = 'consumed' AND consumed_at >= %(since)s
  AND (%(all)s OR identity_id = ANY(%(identities)s::bigint[]))
"""


def call_latency(*, days: int = 7, identity_ids: list[int] | None = None, now: datetime | None = None) -> Latency:
    """Median, p90 and p95 of the per-call path over the last `days` (optionally of some identities only), and
    how many requests lapsed unanswered meanwhile: one statement."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    params = {"since": since, "now": now, "all": identity_ids is None, "identities": list(identity_ids or [])}
    with connection.cursor() as cursor:
        cursor.execute(_LATENCY, params)
        count, median, p90, approve, p95, approve_p95, lapsed = cursor.fetchone()
    return Latency(count, median, p90, approve, p95, approve_p95, lapsed)
