"""Risk tier, orphan state and flags for many identities at once — the set-wise twin of
`identities.services.refresh.identity_refresh`.

The inputs are read in a handful of queries for the whole batch, the tier comes from the same pure
function (`identities.risk.assess_risk`), and the results are written back with one COPY and one UPDATE.
`tests/imports/test_registry_import.py` checks that both agree on identities built to exercise every rule.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from identities.models import Flag, IdentityKind
from identities.risk import RiskInputs, StandingAccess, assess_risk
from identities.services import OLD_STATIC_SECRET_DAYS

BATCH = 100_000  # one pass over the big tables per batch: fewer, larger batches are cheaper


def standing_access(cursor, id_table: str) -> dict[int, tuple[StandingAccess, ...]]:
    """Active standing entitlements of the identities listed in `id_table` (a table with an `id` column),
    reduced to what risk depends on. Aggregated in SQL: risk only counts them."""
    cursor.execute(
        f"""
        SELECT e.identity_id, e.action, t.production, t.production_secrets, count(*)
        FROM identities_entitlement e
        JOIN {id_table} r ON r.id = e.identity_id
        JOIN identities_tool t ON t.id = e.tool_id
        WHERE e.mode = 'standing' AND e.revoked_at IS NULL
        GROUP BY 1, 2, 3, 4
        """
    )
    standing: dict[int, list[StandingAccess]] = defaultdict(list)
    for identity_id, action, production, secrets, count in cursor.fetchall():
        standing[identity_id].extend([StandingAccess(action, production, secrets)] * count)
    return {key: tuple(value) for key, value in standing.items()}


def refresh_identities(ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Recompute the derived state of these identities (same transaction as the change that called it)."""
    now = now or timezone.now()
    ids = sorted(set(ids))
    for start in range(0, len(ids), BATCH):
        _refresh_batch(ids[start : start + BATCH], now)
    return len(ids)


def _refresh_batch(ids: list[int], now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.refresh_ids")
        cursor.execute("CREATE TEMPORARY TABLE refresh_ids (id bigint PRIMARY KEY)")
        with cursor.cursor.copy("COPY refresh_ids (id) FROM STDIN") as copy:
            for identity_id in ids:
                copy.write_row((identity_id,))
        cursor.execute("ANALYZE refresh_ids")  # temporary tables are never analysed automatically
        cursor.execute(
            """
            SELECT i.id, i.kind, i.environment, i.exposure, i.capabilities, i.delegation_depth, i.tier_override
            FROM identities_identity i JOIN refresh_ids r ON r.id = i.id
            """
        )
        rows = cursor.fetchall()
        standing = standing_access(cursor, "refresh_ids")
        owned = _ids(
            cursor,
            """
            SELECT DISTINCT o.identity_id FROM identities_ownership o
            JOIN refresh_ids r ON r.id = o.identity_id
            JOIN auth_user u ON u.id = o.person_id
            WHERE o.role = 'accountable' AND o.valid_from <= %s AND (o.valid_to IS NULL OR o.valid_to > %s)
              AND u.is_active
            """,
            [now, now],
        )
        cursor.execute(
            """
            SELECT DISTINCT ON (a.identity_id) a.identity_id, a.valid_until
            FROM identities_acceptableuse a JOIN refresh_ids r ON r.id = a.identity_id
            ORDER BY a.identity_id, a.version DESC
            """
        )
        latest_aup = dict(cursor.fetchall())
        fan_out = _ids(
            cursor,
            """
            SELECT w.identity_id FROM identities_workflow_identities w JOIN refresh_ids r ON r.id = w.identity_id
            GROUP BY w.identity_id HAVING count(*) > 1
            """,
        )
        cursor.execute(
            """
            WITH held AS (
                SELECT h.identity_id, h.credential_id FROM identities_credential_holders h
                JOIN refresh_ids r ON r.id = h.identity_id
            ), holders AS (
                SELECT h.credential_id, count(*) AS n FROM identities_credential_holders h
                WHERE h.credential_id IN (SELECT credential_id FROM held) GROUP BY 1
            )
            SELECT held.identity_id,
                   bool_or(holders.n > 1),
                   bool_or(c.is_static AND COALESCE(c.last_rotated_at, c.issued_at) <= %s)
            FROM held
            JOIN identities_credential c ON c.id = held.credential_id
            JOIN holders ON holders.credential_id = held.credential_id
            WHERE c.revocation_status <> 'confirmed'
            GROUP BY held.identity_id
            """,
            [now - timedelta(days=OLD_STATIC_SECRET_DAYS)],
        )
        credentials = {identity_id: (shared, old) for identity_id, shared, old in cursor.fetchall()}
        unexcepted = _ids(
            cursor,
            """
            SELECT DISTINCT e.identity_id FROM identities_entitlement e JOIN refresh_ids r ON r.id = e.identity_id
            WHERE e.mode = 'standing' AND e.revoked_at IS NULL AND e.action IN ('write', 'admin')
              AND NOT EXISTS (
                SELECT 1 FROM identities_riskexception x
                WHERE x.entitlement_id = e.id AND x.revoked_at IS NULL AND x.valid_until > %s)
            """,
            [now],
        )
        results = []
        for identity_id, kind, environment, exposure, capabilities, depth, override in rows:
            assessment = assess_risk(
                RiskInputs(
                    kind=kind,
                    environment=environment,
                    exposure=exposure,
                    capabilities=frozenset(capabilities),
                    standing=standing.get(identity_id, ()),
                    delegation_depth=depth,
                )
            )
            tier = override or assessment.tier
            orphaned = identity_id not in owned
            flags = set()
            if orphaned:
                flags.add(Flag.ORPHANED.value)
            if kind != IdentityKind.HUMAN:
                if identity_id not in latest_aup:
                    flags.add(Flag.AUP_MISSING.value)
                elif latest_aup[identity_id] is not None and latest_aup[identity_id] <= now:
                    flags.add(Flag.AUP_EXPIRED.value)
            if identity_id in fan_out:
                flags.add(Flag.FAN_OUT.value)
            shared, old = credentials.get(identity_id, (False, False))
            if shared:
                flags.add(Flag.SHARED_CREDENTIAL.value)
            if old:
                flags.add(Flag.OLD_STATIC_SECRET.value)
            if tier in ("high", "critical") and identity_id in unexcepted:
                flags.add(Flag.UNEXCEPTED_PRIVILEGE.value)
            results.append(
                (identity_id, assessment.tier, json.dumps(assessment.as_json()), tier, orphaned, sorted(flags))
            )
        cursor.execute("DROP TABLE IF EXISTS pg_temp.refresh_out")
        cursor.execute(
            """CREATE TEMPORARY TABLE refresh_out (id bigint PRIMARY KEY, derived_tier text, reasons jsonb,
                   risk_tier text, is_orphaned boolean, flags text[])"""
        )
        with cursor.cursor.copy("COPY refresh_out FROM STDIN") as copy:
            # The reasons travel as JSON text that the server parses into jsonb.
            copy.set_types(["int8", "text", "text", "text", "bool", "text[]"])
            for row in results:
                copy.write_row(row)
        cursor.execute(
            """
            UPDATE identities_identity i
            SET derived_tier = o.derived_tier, risk_reasons = o.reasons, risk_assessed_at = %s,
                risk_tier = o.risk_tier, is_orphaned = o.is_orphaned, flags = o.flags, updated_at = %s
            FROM refresh_out o WHERE o.id = i.id
            """,
            [now, now],
        )
        cursor.execute("DROP TABLE refresh_ids; DROP TABLE refresh_out")


def _ids(cursor, sql: str, params=None) -> set[int]:
    cursor.execute(sql, params or [])
    return {row[0] for row in cursor.fetchall()}
