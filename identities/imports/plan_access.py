"""Second pass, part two: entitlements, with "who grants what" applied set-wise.

An entitlement row is `new` (no such external id), `unchanged`, `replace` (identity, tool, action, scope or
expiry differ: the old one is revoked and a new one granted — entitlements never change), or `revoked`
(its external id names only revoked entitlements: reported, not granted again). Whether a standing
write/admin grant needs an exception depends on the tier the identity will have after the import, which
`identities.risk.assess_risk` computes from the merged attributes and standing access.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from identities.imports import formats
from identities.imports.context import Run, typed
from identities.imports.plan_registry import _duplicates, _may_take_from, _rules
from identities.risk import RiskInputs, StandingAccess, assess_risk, tier_at_least
from identities.services import (
    ERR_ACTION_NOT_SUPPORTED,
    ERR_DUPLICATE,
    ERR_EXCEPTION_UNTIL,
    ERR_EXPIRES_PAST,
    ERR_IDENTITY_NOT_ACTIVE,
    ERR_JIT_THROUGH_GRANT,
    ERR_NEEDS_EXCEPTION,
    ERR_NOT_OWNER,
    ERR_PRIVILEGED_NEEDS_ADMIN,
    ERR_READ_ONLY_OWNER,
    MAX_EXCEPTION_DAYS,
)

ERR_EXCEPTION_NEEDS_PERSON = (
    "A standing {action} entitlement on a {tier}-risk identity needs an exception accepted by a person: run the "
    "import as an administrator (--as USERNAME)."
)
NOTICE_REVOKED = "This entitlement was revoked; it is not granted again. Use a new external id to grant it anew."


def plan_entitlements(cursor, run: Run) -> None:
    col = formats.ENTITLEMENTS.column
    present = run.present
    scope = "COALESCE(x.norm, '{}'::jsonb)" if present("entitlements", "scope") else "COALESCE(d.scope, '{}'::jsonb)"
    # The exception columns are never stored on the entitlement: absent means none.
    until = "pg_temp.imp_ts(s.exception_until)" if present("entitlements", "exception_until") else "NULL::timestamptz"
    reason = "COALESCE(s.exception_reason, '')" if present("entitlements", "exception_reason") else "''"
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_entitlements")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_entitlements AS
            SELECT q.*,
                   CASE WHEN q.old_id IS NULL AND q.revoked_id IS NOT NULL THEN 'revoked'
                        WHEN q.old_id IS NULL THEN 'new'
                        WHEN (q.identity_id, q.tool_id, q.action, q.scope, q.expires_at)
                             IS NOT DISTINCT FROM (d.identity_id, d.tool_id, d.action::text, d.scope, d.expires_at)
                        THEN 'unchanged' ELSE 'replace' END AS plan,
                   d.mode::text AS old_mode, d.identity_id AS old_identity_id,
                   NULL::text AS tier, false AS needs_exception
            FROM (
                SELECT s._line, s.external_id AS ext, m.db_id AS old_id, m.revoked_id,
                       s.identity AS identity_ext, s.tool AS tool_ext, mi.db_id AS identity_id, mt.db_id AS tool_id,
                       s.action, {scope} AS scope,
                       {typed(run, "entitlements", col("expires_at"))} AS expires_at,
                       {typed(run, "entitlements", col("reason"))} AS reason,
                       {reason} AS exception_reason, {until} AS exception_until,
                       -- what the rules ask about the identity and the tool, joined once for every row
                       p.status AS identity_status, p.may_change, p.owned_after,
                       COALESCE(rt.actions, tool.actions::text[]) AS tool_actions
                FROM imp_entitlements s
                JOIN map_entitlements m ON m.ext = s.external_id
                JOIN map_identities mi ON mi.ext = s.identity
                JOIN map_tools mt ON mt.ext = s.tool
                JOIN perm_identities p ON p.ext = s.identity
                LEFT JOIN res_tools rt ON rt.ext = s.tool
                LEFT JOIN identities_tool tool ON tool.id = mt.db_id
                LEFT JOIN imp_scope x ON x.raw = s.scope
                LEFT JOIN identities_entitlement d ON d.id = m.db_id
            ) q
            LEFT JOIN identities_entitlement d ON d.id = q.old_id"""
    )
    cursor.execute("CREATE INDEX ON res_entitlements (ext)")
    cursor.execute("ANALYZE res_entitlements")
    _entitlement_rules(cursor, run)


GRANTED = "r.plan IN ('new', 'replace')"


def _entitlement_rules(cursor, run: Run) -> None:
    table, entity = "res_entitlements", "entitlements"
    rule = _rules(cursor, run, entity, table)
    cursor.execute(
        """INSERT INTO imp_errors (file, line, field, message, level)
           SELECT %(file)s, _line, 'external_id', %(message)s, 'notice' FROM res_entitlements WHERE plan = 'revoked'""",
        run.params(file=run.file(entity), message=NOTICE_REVOKED),
    )
    rule("external_id", f"{GRANTED} AND r.old_mode = 'jit'", message=ERR_JIT_THROUGH_GRANT)
    rule("identity", f"{GRANTED} AND r.identity_status <> 'active'", message=ERR_IDENTITY_NOT_ACTIVE)
    rule(
        "action",
        f"{GRANTED} AND NOT r.action = ANY(r.tool_actions)",
        sql="replace(%(message)s, '{action}', r.action)",
        message=ERR_ACTION_NOT_SUPPORTED,
    )
    rule("expires_at", f"{GRANTED} AND r.expires_at <= %(now)s", message=ERR_EXPIRES_PAST)
    if not run.importer.system:
        rule("identity", f"{GRANTED} AND r.action = 'read' AND NOT r.may_change", message=ERR_NOT_OWNER)
        rule(
            "action",
            f"{GRANTED} AND r.action <> 'read' AND (NOT %(admin)s OR r.owned_after)",
            sql="CASE WHEN %(admin)s OR NOT r.owned_after THEN %(needs_admin)s ELSE %(read_only)s END",
            needs_admin=ERR_PRIVILEGED_NEEDS_ADMIN,
            read_only=ERR_READ_ONLY_OWNER,
        )
        rule(
            "identity",
            "r.plan = 'replace' AND r.old_identity_id IS DISTINCT FROM r.identity_id "
            f"AND NOT {_may_take_from('r.old_identity_id')}",
            message=ERR_NOT_OWNER,
        )
    key = "COALESCE(r.identity_id::text, 'new:' || r.identity_ext), COALESCE(r.tool_id::text, 'new:' || r.tool_ext)"
    _duplicates(
        cursor,
        run,
        entity,
        table,
        "scope",
        f"{key}, r.action, r.scope",
        "identity, tool, action and scope",
        "r.plan <> 'revoked'",
    )
    rule(
        "scope",
        f"""{GRANTED} AND EXISTS (
                SELECT 1 FROM identities_entitlement e
                WHERE e.identity_id = r.identity_id AND e.tool_id = r.tool_id AND e.action = r.action
                  AND e.scope = r.scope AND e.mode = 'standing' AND e.revoked_at IS NULL
                  AND e.id NOT IN (SELECT old_id FROM res_entitlements WHERE old_id IS NOT NULL AND plan <> 'new'))""",
        message=ERR_DUPLICATE,
    )
    _exception_rules(cursor, run)


def _exception_rules(cursor, run: Run) -> None:
    """Mark standing write/admin grants on identities that will be high or critical, and require an
    exception on them (a reason and an end date within MAX_EXCEPTION_DAYS)."""
    cursor.execute(
        f"""SELECT DISTINCT r.identity_ext FROM res_entitlements r
            WHERE {GRANTED} AND r.action IN ('write', 'admin')"""
    )
    candidates = [row[0] for row in cursor.fetchall()]
    if not candidates:
        return
    tiers = tiers_after(cursor, run, candidates)
    high = [(ext, tier) for ext, tier in tiers.items() if tier_at_least(tier, "high")]
    if not high:
        return
    cursor.execute("CREATE TEMPORARY TABLE imp_high (ext text PRIMARY KEY, tier text)")
    with cursor.cursor.copy("COPY imp_high FROM STDIN") as copy:
        for row in high:
            copy.write_row(row)
    cursor.execute(
        f"""UPDATE res_entitlements r SET needs_exception = true, tier = h.tier FROM imp_high h
            WHERE h.ext = r.identity_ext AND {GRANTED} AND r.action IN ('write', 'admin')"""
    )
    cursor.execute("DROP TABLE imp_high")
    table, entity = "res_entitlements", "entitlements"
    rule = _rules(cursor, run, entity, table)
    needs = "replace(replace(%(message)s, '{action}', r.action), '{tier}', r.tier)"
    if run.importer.system:
        rule("exception_reason", "r.needs_exception", sql=needs, message=ERR_EXCEPTION_NEEDS_PERSON)
        return
    rule(
        "exception_reason",
        "r.needs_exception AND (r.exception_reason = '' OR r.exception_until IS NULL)",
        sql=needs,
        message=ERR_NEEDS_EXCEPTION,
    )
    rule(
        "exception_until",
        """r.needs_exception AND r.exception_reason <> '' AND r.exception_until IS NOT NULL
           AND (r.exception_until <= %(now)s OR r.exception_until > %(latest)s)""",
        message=ERR_EXCEPTION_UNTIL,
        latest=run.now + timedelta(days=MAX_EXCEPTION_DAYS),
    )


def tiers_after(cursor, run: Run, identity_exts: list[str]) -> dict[str, str]:
    """The effective tier each identity will have once the import is written (override included)."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.imp_tier_ids")
    cursor.execute(
        """CREATE TEMPORARY TABLE imp_tier_ids AS
           SELECT m.ext, m.db_id FROM map_identities m WHERE m.ext = ANY(%s)""",
        [identity_exts],
    )
    cursor.execute(
        """SELECT t.ext,
                  COALESCE(r.kind, d.kind), COALESCE(r.environment, d.environment), COALESCE(r.exposure, d.exposure),
                  COALESCE(r.capabilities, d.capabilities::text[]), COALESCE(r.depth, d.delegation_depth, 0),
                  COALESCE(d.tier_override, '')
           FROM imp_tier_ids t
           LEFT JOIN res_identities r ON r.ext = t.ext
           LEFT JOIN identities_identity d ON d.id = t.db_id"""
    )
    attributes = {row[0]: row[1:] for row in cursor.fetchall()}
    standing: dict[str, list[StandingAccess]] = defaultdict(list)
    # What stays: active standing entitlements not replaced by this file ...
    cursor.execute(
        """SELECT t.ext, e.action, tool.production, tool.production_secrets
           FROM imp_tier_ids t
           JOIN identities_entitlement e ON e.identity_id = t.db_id
           JOIN identities_tool tool ON tool.id = e.tool_id
           WHERE e.mode = 'standing' AND e.revoked_at IS NULL
             AND e.id NOT IN (SELECT old_id FROM res_entitlements WHERE plan = 'replace')"""
    )
    rows = cursor.fetchall()
    # ... and what the file grants (tools with the flags they will have).
    cursor.execute(
        """SELECT r.identity_ext, r.action,
                  COALESCE(rt.production, tool.production), COALESCE(rt.production_secrets, tool.production_secrets)
           FROM res_entitlements r
           LEFT JOIN res_tools rt ON rt.ext = r.tool_ext
           LEFT JOIN identities_tool tool ON tool.id = r.tool_id
           WHERE r.plan IN ('new', 'replace') AND r.identity_ext = ANY(%s)""",
        [identity_exts],
    )
    rows += cursor.fetchall()
    by_db_ext = _same_identity(cursor)
    for ext, action, production, secrets in rows:
        standing[by_db_ext.get(ext, ext)].append(StandingAccess(action, bool(production), bool(secrets)))
    tiers = {}
    for ext, (kind, environment, exposure, capabilities, depth, override) in attributes.items():
        assessment = assess_risk(
            RiskInputs(
                kind=kind,
                environment=environment,
                exposure=exposure,
                capabilities=frozenset(capabilities or ()),
                standing=tuple(standing.get(by_db_ext.get(ext, ext), ())),
                delegation_depth=depth,
            )
        )
        tiers[ext] = override or assessment.tier
    cursor.execute("DROP TABLE imp_tier_ids")
    return tiers


def _same_identity(cursor) -> dict[str, str]:
    """Two external ids may name one registry identity (its external id and its UUID): one key for both."""
    cursor.execute(
        """SELECT m.ext, min(m2.ext) FROM map_identities m JOIN map_identities m2 ON m2.db_id = m.db_id
           WHERE m.db_id IS NOT NULL GROUP BY m.ext"""
    )
    return dict(cursor.fetchall())


__all__ = ["plan_entitlements", "tiers_after"]
