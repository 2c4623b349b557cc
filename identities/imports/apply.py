"""Third pass: write the plan, set-wise — INSERT … SELECT for new rows, UPDATE … FROM for changed ones,
nothing for unchanged ones — and collect the identities whose risk must be recomputed (`imp_touched`)."""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from agentiam.digests import Digest, rows_digest, sql_digest
from identities.imports import formats
from identities.imports.context import Run
from identities.signals import entitlements_revoked

REPLACED_REASON = "replaced by import"
TRANSFERRED_REASON = "transferred by import"


def _count(cursor, sql: str, params=None) -> int:
    cursor.execute(sql, params or {})
    return cursor.fetchone()[0]


def _counts(run: Run, entity: str, total: int, created: int, updated: int, **extra: int) -> None:
    run.counts[entity] = {"created": created, "updated": updated, "unchanged": total - created - updated, **extra}


def _refresh_map(cursor, entity: str, table: str) -> None:
    cursor.execute(
        f"UPDATE map_{entity} m SET db_id = d.id FROM {table} d WHERE m.db_id IS NULL AND d.external_id = m.ext"
    )


def apply_all(cursor, run: Run) -> list[int]:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.imp_touched")
    cursor.execute("CREATE TEMPORARY TABLE imp_touched (id bigint)")
    apply_systems(cursor, run)
    apply_tools(cursor, run)
    apply_identities(cursor, run)
    apply_identifiers(cursor, run)
    apply_entitlements(cursor, run)
    apply_credentials(cursor, run)
    cursor.execute("SELECT DISTINCT id FROM imp_touched WHERE id IS NOT NULL")
    return [row[0] for row in cursor.fetchall()]


def apply_systems(cursor, run: Run) -> None:
    if not run.has("systems"):
        return
    cursor.execute(
        """INSERT INTO identities_system (uuid, name, kind, description, vendor, external_id, created_at)
           SELECT gen_random_uuid(), name, kind, description, vendor, ext, %(now)s FROM res_systems WHERE id IS NULL""",
        run.params(),
    )
    created = cursor.rowcount
    cursor.execute(
        """UPDATE identities_system d SET name = r.name, kind = r.kind, description = r.description, vendor = r.vendor
           FROM res_systems r WHERE d.id = r.id AND r.changed"""
    )
    updated = cursor.rowcount
    _counts(run, "systems", _count(cursor, "SELECT count(*) FROM res_systems"), created, updated)
    _refresh_map(cursor, "systems", "identities_system")


def apply_tools(cursor, run: Run) -> None:
    if not run.has("tools"):
        return
    system = (
        "(SELECT db_id FROM map_systems WHERE ext = r.system_ext)" if run.present("tools", "system") else "r.system_id"
    )
    cursor.execute(
        f"""INSERT INTO identities_tool (uuid, system_id, key, name, description, actions, sensitivity, data_class,
                                        production, production_secrets, third_party, external_id, created_at)
            SELECT gen_random_uuid(), {system}, key, name, description, actions, sensitivity, data_class,
                   production, production_secrets, third_party, ext, %(now)s
            FROM res_tools r WHERE id IS NULL""",
        run.params(),
    )
    created = cursor.rowcount
    cursor.execute(
        f"""UPDATE identities_tool d SET system_id = {system}, key = r.key, name = r.name, description = r.description,
                   actions = r.actions, sensitivity = r.sensitivity, data_class = r.data_class,
                   production = r.production, production_secrets = r.production_secrets, third_party = r.third_party
            FROM res_tools r WHERE d.id = r.id AND r.changed"""
    )
    updated = cursor.rowcount
    _counts(run, "tools", _count(cursor, "SELECT count(*) FROM res_tools"), created, updated)
    _refresh_map(cursor, "tools", "identities_tool")
    # A tool that became (or stopped being) a production or production-secret tool changes its holders' risk.
    cursor.execute(
        """INSERT INTO imp_touched SELECT DISTINCT e.identity_id FROM identities_entitlement e
           JOIN res_tools r ON r.id = e.tool_id WHERE r.risk_changed AND e.revoked_at IS NULL"""
    )


IDENTITY_ATTRIBUTES = formats.IDENTITIES.attributes()


def apply_identities(cursor, run: Run) -> None:
    if not run.has("identities"):
        return
    attributes = ", ".join(IDENTITY_ATTRIBUTES)
    cursor.execute(
        f"""INSERT INTO identities_identity (
                uuid, external_id, {attributes}, status, status_reason, parent_id, delegation_depth, person_id,
                derived_tier, risk_reasons, tier_override, tier_override_reason, risk_tier, is_orphaned, flags,
                created_by_id, created_at, updated_at)
            SELECT gen_random_uuid(), ext, {attributes}, 'active', '', NULL, depth, person_id,
                   'low', '[]'::jsonb, '', '', 'low', true, '{{}}', %(actor)s, %(now)s, %(now)s
            FROM res_identities WHERE id IS NULL""",
        run.params(),
    )
    created = cursor.rowcount
    _refresh_map(cursor, "identities", "identities_identity")
    parent = (
        "(SELECT db_id FROM map_identities WHERE ext = r.parent_ext)"
        if run.present("identities", "parent")
        else "d.parent_id"
    )
    assignments = ", ".join(f"{name} = r.{name}" for name in IDENTITY_ATTRIBUTES if name != "kind")
    cursor.execute(
        f"""UPDATE identities_identity d SET {assignments}, parent_id = {parent}, person_id = r.person_id,
                   delegation_depth = r.depth, updated_at = %(now)s
            FROM res_identities r JOIN map_identities m ON m.ext = r.ext
            WHERE d.id = m.db_id AND (r.changed OR (r.id IS NULL AND r.parent_ext IS NOT NULL))""",
        run.params(),
    )
    updated = _count(cursor, "SELECT count(*) FROM res_identities WHERE id IS NOT NULL AND changed")
    cursor.execute(
        """UPDATE identities_ownership o
           SET valid_to = %(now)s, ended_by_id = %(actor)s, end_reason = %(reason)s
           FROM res_identities r
           WHERE r.owner_changed AND r.id IS NOT NULL AND o.identity_id = r.id
             AND o.role = 'accountable' AND o.valid_to IS NULL""",
        run.params(reason=TRANSFERRED_REASON),
    )
    cursor.execute(
        """INSERT INTO identities_ownership (uuid, identity_id, person_id, role, valid_from, valid_to,
                                             assigned_by_id, ended_by_id, end_reason)
           SELECT gen_random_uuid(), m.db_id, r.owner_id, 'accountable', %(now)s, NULL, %(actor)s, NULL, ''
           FROM res_identities r JOIN map_identities m ON m.ext = r.ext WHERE r.owner_changed""",
        run.params(),
    )
    transfers = _count(cursor, "SELECT count(*) FROM res_identities WHERE owner_changed AND id IS NOT NULL")
    total = _count(cursor, "SELECT count(*) FROM res_identities")
    _counts(run, "identities", total, created, updated, owners_transferred=transfers)
    cursor.execute(
        """INSERT INTO imp_touched SELECT m.db_id FROM res_identities r JOIN map_identities m ON m.ext = r.ext
           WHERE r.id IS NULL OR r.changed OR r.owner_changed"""
    )


def apply_identifiers(cursor, run: Run) -> None:
    if not run.has("identifiers"):
        return
    identity = (
        "(SELECT db_id FROM map_identities WHERE ext = r.identity_ext)"
        if run.present("identifiers", "identity")
        else "r.identity_id"
    )
    cursor.execute(
        f"""INSERT INTO identities_identifier (uuid, identity_id, kind, value, workflow_id, external_id, created_at)
            SELECT gen_random_uuid(), {identity}, kind, value, NULL, ext, %(now)s FROM res_identifiers r
            WHERE id IS NULL""",
        run.params(),
    )
    created = cursor.rowcount
    cursor.execute(
        f"""UPDATE identities_identifier d SET identity_id = {identity}, kind = r.kind, value = r.value
            FROM res_identifiers r WHERE d.id = r.id AND r.changed"""
    )
    updated = cursor.rowcount
    _counts(run, "identifiers", _count(cursor, "SELECT count(*) FROM res_identifiers"), created, updated)


def apply_entitlements(cursor, run: Run) -> None:
    if not run.has("entitlements"):
        return
    cursor.execute(
        """UPDATE identities_entitlement e
           SET revoked_at = %(now)s, revoked_by_id = %(actor)s, revoke_reason = %(reason)s
           FROM res_entitlements r WHERE r.plan = 'replace' AND e.id = r.old_id AND e.revoked_at IS NULL
           RETURNING e.id""",
        run.params(reason=REPLACED_REASON),
    )
    replaced_ids = [row[0] for row in cursor.fetchall()]
    replaced = len(replaced_ids)
    # Tokens that relied on a replaced entitlement end with it (the runtime, which knows tokens, listens).
    tokens_revoked = sum(
        count or 0
        for _, count in entitlements_revoked.send(
            sender=REPLACED_REASON, entitlement_ids=replaced_ids, reason=REPLACED_REASON, actor=run.importer.user
        )
    )
    cursor.execute("DROP TABLE IF EXISTS pg_temp.imp_new_entitlements")
    cursor.execute("CREATE TEMPORARY TABLE imp_new_entitlements (id bigint, external_id text)")
    cursor.execute(
        """WITH ins AS (
               INSERT INTO identities_entitlement (uuid, identity_id, tool_id, action, scope, mode, source, grant_id,
                   granted_by_id, reason, granted_at, expires_at, revoked_at, revoked_by_id, revoke_reason, external_id)
               SELECT gen_random_uuid(), mi.db_id, mt.db_id, r.action, r.scope, 'standing', 'import', NULL,
                      %(actor)s, r.reason, %(now)s, r.expires_at, NULL, NULL, '', r.ext
               FROM res_entitlements r
               JOIN map_identities mi ON mi.ext = r.identity_ext
               JOIN map_tools mt ON mt.ext = r.tool_ext
               WHERE r.plan IN ('new', 'replace')
               RETURNING id, identity_id, external_id)
           INSERT INTO imp_new_entitlements SELECT id, external_id FROM ins""",
        run.params(),
    )
    granted = cursor.rowcount
    cursor.execute("CREATE INDEX ON imp_new_entitlements (external_id)")
    cursor.execute(
        """INSERT INTO identities_riskexception (uuid, entitlement_id, accepted_by_id, reason, valid_until, created_at)
           SELECT gen_random_uuid(), n.id, %(actor)s, r.exception_reason, r.exception_until, %(now)s
           FROM res_entitlements r JOIN imp_new_entitlements n ON n.external_id = r.ext
           WHERE r.needs_exception""",
        run.params(),
    )
    exceptions = cursor.rowcount
    # The replacement carries the credentials the old entitlement carried (same external id, same duty).
    cursor.execute(
        """UPDATE identities_credential_entitlements ce SET entitlement_id = n.id
           FROM res_entitlements r JOIN imp_new_entitlements n ON n.external_id = r.ext
           WHERE r.plan = 'replace' AND ce.entitlement_id = r.old_id"""
    )
    if run.present("credentials", "entitlements"):  # only credentials look entitlements up again
        cursor.execute(
            """UPDATE map_entitlements m SET db_id = n.id FROM imp_new_entitlements n
               WHERE n.external_id = m.ext
                 AND m.ext IN (SELECT unnest(entitlement_exts) FROM res_credentials)"""
        )
    cursor.execute(
        """INSERT INTO imp_touched
           SELECT mi.db_id FROM res_entitlements r JOIN map_identities mi ON mi.ext = r.identity_ext
           WHERE r.plan IN ('new', 'replace')
           UNION SELECT old_identity_id FROM res_entitlements WHERE plan = 'replace'"""
    )
    cursor.execute("SELECT plan, count(*) FROM res_entitlements GROUP BY plan")
    plans = dict(cursor.fetchall())
    run.counts["entitlements"] = {
        "created": granted - replaced,
        "replaced": replaced,
        "unchanged": plans.get("unchanged", 0),
        "revoked_not_granted": plans.get("revoked", 0),
        "exceptions": exceptions,
        "tokens_revoked": tokens_revoked,
    }


CREDENTIAL_ATTRIBUTES = formats.CREDENTIALS.attributes()


def apply_credentials(cursor, run: Run) -> None:
    if not run.has("credentials"):
        return
    # Holders before the change count too: a credential that leaves an identity changes its flags.
    cursor.execute(
        """INSERT INTO imp_touched SELECT h.identity_id FROM identities_credential_holders h
           JOIN res_credentials r ON r.id = h.credential_id WHERE r.changed"""
    )
    attributes = ", ".join(CREDENTIAL_ATTRIBUTES)
    cursor.execute(
        f"""INSERT INTO identities_credential (uuid, {attributes}, revocation_status, revocation_reason,
                                              revocation_note, external_id, created_at)
            SELECT gen_random_uuid(), {attributes}, '', '', '', ext, %(now)s FROM res_credentials WHERE id IS NULL""",
        run.params(),
    )
    created = cursor.rowcount
    assignments = ", ".join(f"{name} = r.{name}" for name in CREDENTIAL_ATTRIBUTES)
    cursor.execute(
        f"UPDATE identities_credential d SET {assignments} FROM res_credentials r WHERE d.id = r.id AND r.changed"
    )
    updated = cursor.rowcount
    _refresh_map(cursor, "credentials", "identities_credential")
    _set_links(cursor, "identities_credential_holders", "identity_id", "holder_exts", "map_identities")
    if run.present("credentials", "entitlements"):
        _set_links(
            cursor, "identities_credential_entitlements", "entitlement_id", "entitlement_exts", "map_entitlements"
        )
    cursor.execute(
        """INSERT INTO imp_touched SELECT mi.db_id FROM res_credentials r
           CROSS JOIN LATERAL unnest(r.holder_exts) h JOIN map_identities mi ON mi.ext = h
           WHERE r.id IS NULL OR r.changed"""
    )
    _counts(run, "credentials", _count(cursor, "SELECT count(*) FROM res_credentials"), created, updated)


def _set_links(cursor, table: str, column: str, exts: str, target_map: str) -> None:
    """Make a many-to-many set of the new and changed credentials exactly what the file says (links to
    revoked entitlements stay: they are history, and the file only lists what is active)."""
    history = (
        f"AND l.{column} IN (SELECT id FROM identities_entitlement WHERE revoked_at IS NULL)"
        if column == "entitlement_id"
        else ""
    )
    cursor.execute(
        f"""CREATE TEMPORARY TABLE imp_links AS
            SELECT DISTINCT m.db_id AS credential_id, t.db_id AS target_id
            FROM res_credentials r JOIN map_credentials m ON m.ext = r.ext
            CROSS JOIN LATERAL unnest(COALESCE(r.{exts}, '{{}}')) x
            JOIN {target_map} t ON t.ext = x
            WHERE r.id IS NULL OR r.changed"""
    )
    cursor.execute(
        f"""DELETE FROM {table} l USING res_credentials r
            WHERE r.changed AND l.credential_id = r.id
              AND NOT EXISTS (SELECT 1 FROM imp_links x WHERE x.credential_id = l.credential_id
                              AND x.target_id = l.{column}) {history}"""
    )
    cursor.execute(
        f"""INSERT INTO {table} (credential_id, {column})
            SELECT credential_id, target_id FROM imp_links ON CONFLICT DO NOTHING"""
    )
    cursor.execute("DROP TABLE imp_links")


_WRITTEN = (
    "SELECT '{entity}' AS entity, ext, CASE WHEN id IS NULL THEN 'created' ELSE 'updated' END "
    "FROM res_{entity} WHERE id IS NULL OR changed"
)
_WRITTEN_ENTITLEMENTS = (
    "SELECT 'entitlements' AS entity, ext, CASE plan WHEN 'new' THEN 'created' ELSE 'replaced' END "
    "FROM res_entitlements WHERE plan IN ('new', 'replace')"
)


def written_rows(cursor, run: Run) -> Digest:
    """Count and digest of the rows the import wrote — `[entity, external id, created|updated|replaced]` —
    for its one audit entry (agentiam.digests: anyone with the file and the registry can recompute it)."""
    parts = [
        _WRITTEN_ENTITLEMENTS if entity == "entitlements" else _WRITTEN.format(entity=entity)
        for entity in ("systems", "tools", "identities", "identifiers", "entitlements", "credentials")
        if run.has(entity)
    ]
    return sql_digest(cursor, " UNION ALL ".join(parts)) if parts else rows_digest([])
