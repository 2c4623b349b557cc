"""Everything a decision (or an introspection) reads, in one SQL round trip: a CTE that returns one JSON
document with the calling gateway, the presented tokens with their revocation and signing-key state, the
identities with their live ownership and acceptable use and whether per-call re-authorisation gates them, the
tools, the entitlements that could cover the calls, their grants and exceptions, the tokens' tasks, and the
active policy version.

Nothing here is cached across requests: revocation, suspension, a task's end and a grant's end are read at
the moment of the decision. Times come back as epoch seconds (cheap to turn into datetimes).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

SQL = """
WITH gw AS (
    SELECT g.id, g.digest, g.audiences, g.disabled_at IS NULL AS enabled, i.status AS identity_status
    FROM runtime_gateway g JOIN identities_identity i ON i.id = g.identity_id
    WHERE g.prefix = %(prefix)s::text
), tok AS (
    SELECT t.jti, t.kid, t.identity_id, t.actor_id, t.task_id, t.audience, t.scopes, t.act_chain,
           extract(epoch FROM t.expires_at)::float8 AS exp,
           EXISTS (SELECT 1 FROM runtime_tokenrevocation r WHERE r.jti = t.jti) AS revoked,
           k.public_key, k.status AS key_status
    FROM runtime_issuedtoken t
    LEFT JOIN audit_signingkey k ON k.kid = t.kid AND k.purpose = 'token'
    WHERE t.jti = ANY(%(jtis)s::text[])
), ids AS (
    SELECT i.id, i.uuid, i.name, i.kind, i.status, i.risk_tier, i.environment,
           EXISTS (
               SELECT 1 FROM identities_ownership o JOIN auth_user u ON u.id = o.person_id
               WHERE o.identity_id = i.id AND o.role = 'accountable' AND u.is_active
                 AND o.valid_from <= %(now)s AND (o.valid_to IS NULL OR o.valid_to > %(now)s)
           ) AS owners_active,
           EXISTS (
               SELECT 1 FROM runtime_percallmode m
               WHERE m.disabled_at IS NULL AND (m.identity_id = i.id OR m.risk_tier = i.risk_tier)
           ) AS per_call
    FROM identities_identity i
    WHERE i.id IN (SELECT identity_id FROM tok UNION SELECT actor_id FROM tok)
), aup AS (
    SELECT DISTINCT ON (a.identity_id) a.identity_id, a.allowed_tools,
           extract(epoch FROM a.valid_from)::float8 AS valid_from,
           extract(epoch FROM a.valid_until)::float8 AS valid_until
    FROM identities_acceptableuse a
    WHERE a.identity_id IN (SELECT identity_id FROM tok)
      AND a.valid_from <= %(now)s::timestamptz AND (a.valid_until IS NULL OR a.valid_until > %(now)s)
    ORDER BY a.identity_id, a.version DESC
), tools AS (
    SELECT id, key, sensitivity, production, production_secrets FROM identities_tool WHERE key = ANY(%(tools)s::text[])
), ents AS (
    SELECT e.id, e.uuid, e.identity_id, tl.key AS tool_key, e.action, e.mode, e.scope, e.grant_id,
           extract(epoch FROM e.granted_at)::float8 AS valid_from,
           extract(epoch FROM e.expires_at)::float8 AS expires_at
    FROM identities_entitlement e JOIN tools tl ON tl.id = e.tool_id
    WHERE e.identity_id IN (SELECT identity_id FROM tok) AND e.revoked_at IS NULL
      AND (e.expires_at IS NULL OR e.expires_at > %(now)s)
), grants AS (
    SELECT g.id, g.uuid, tk.uuid AS task, g.ended_at IS NOT NULL AS ended,
           extract(epoch FROM g.starts_at)::float8 AS starts_at, extract(epoch FROM g.ends_at)::float8 AS ends_at
    FROM identities_grant g LEFT JOIN identities_task tk ON tk.id = g.task_id
    WHERE g.id IN (SELECT grant_id FROM ents)
), excs AS (
    SELECT x.uuid, x.entitlement_id,
           extract(epoch FROM x.created_at)::float8 AS valid_from,
           extract(epoch FROM x.valid_until)::float8 AS valid_until
    FROM identities_riskexception x
    WHERE x.entitlement_id IN (SELECT id FROM ents) AND x.revoked_at IS NULL AND x.valid_until > %(now)s
), tasks AS (
    SELECT id, uuid, state FROM identities_task WHERE id IN (SELECT task_id FROM tok)
)
SELECT json_build_object(
    'gateway', (SELECT row_to_json(gw) FROM gw),
    'tokens', (SELECT coalesce(json_agg(tok), '[]') FROM tok),
    'identities', (SELECT coalesce(json_agg(ids), '[]') FROM ids),
    'aups', (SELECT coalesce(json_agg(aup), '[]') FROM aup),
    'tools', (SELECT coalesce(json_agg(tools), '[]') FROM tools),
    'entitlements', (SELECT coalesce(json_agg(ents), '[]') FROM ents),
    'grants', (SELECT coalesce(json_agg(grants), '[]') FROM grants),
    'exceptions', (SELECT coalesce(json_agg(excs), '[]') FROM excs),
    'tasks', (SELECT coalesce(json_agg(tasks), '[]') FROM tasks),
    'policy', (SELECT json_build_object('id', id, 'uuid', uuid) FROM runtime_policyversion WHERE status = 'active')
)
"""


def at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


@dataclass
class Lookup:
    gateway: dict[str, Any] | None
    tokens: dict[str, dict[str, Any]]  # by jti
    identities: dict[int, dict[str, Any]]
    aups: dict[int, dict[str, Any]]
    tools: dict[str, dict[str, Any]]  # by key
    entitlements: dict[tuple[int, str], list[dict[str, Any]]]  # by (identity id, tool key)
    grants: dict[int, dict[str, Any]]
    exceptions: dict[int, list[dict[str, Any]]]  # by entitlement id
    tasks: dict[int, dict[str, Any]]
    policy: dict[str, Any] | None


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared (once per connection)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


_prepared_connections: weakref.WeakSet = weakref.WeakSet()
# Django leaves psycopg's prepare_threshold at None (nothing is ever prepared): a threshold no query reaches
# lets only the statements executed through _PreparedCursor be prepared.
_ONLY_WHEN_ASKED = 1 << 30


def _prepared_cursor():
    connection.ensure_connection()
    raw = connection.connection
    if raw not in _prepared_connections:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
        raw.execute("SET plan_cache_mode = force_generic_plan")
        _prepared_connections.add(raw)
    cursor = _PreparedCursor(raw)
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def execute(sql: str, params: list[Any] | dict[str, Any]) -> None:
    """A runtime write (the decision log's INSERT), prepared like the lookups."""
    if not settings.RUNTIME_PREPARED_LOOKUPS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    with _prepared_cursor() as cursor:
        cursor.execute(sql, params)


def fetch_one(sql: str, params: dict[str, Any]):
    """One row of a runtime lookup. Planning these multi-CTE statements costs several times executing them,
    so with RUNTIME_PREPARED_LOOKUPS they are prepared statements with a generic plan. Django's own queries
    are bound client-side and never prepared, so the session's plan_cache_mode only reaches these (and
    PL/pgSQL trigger bodies, whose statements have no parameter-sensitive plans)."""
    if not settings.RUNTIME_PREPARED_LOOKUPS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    with _prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def lookup(*, prefix: str, jtis: list[str], tools: list[str], now: datetime) -> Lookup:
    data = fetch_one(SQL, {"prefix": prefix, "jtis": jtis, "tools": tools, "now": now})[0]
    entitlements: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for row in data["entitlements"]:
        entitlements.setdefault((row["identity_id"], row["tool_key"]), []).append(row)
    exceptions: dict[int, list[dict[str, Any]]] = {}
    for row in data["exceptions"]:
        exceptions.setdefault(row["entitlement_id"], []).append(row)
    return Lookup(
        gateway=data["gateway"],
        tokens={row["jti"]: row for row in data["tokens"]},
        identities={row["id"]: row for row in data["identities"]},
        aups={row["identity_id"]: row for row in data["aups"]},
        tools={row["key"]: row for row in data["tools"]},
        entitlements=entitlements,
        grants={row["id"]: row for row in data["grants"]},
        exceptions=exceptions,
        tasks={row["id"]: row for row in data["tasks"]},
        policy=data["policy"],
    )
