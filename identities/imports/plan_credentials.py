"""Second pass, part three: credentials — fingerprints unique, at least one holder, nothing revoked carried,
and every holder (now and after the import) one the importer may change."""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from identities.imports import formats
from identities.imports.context import Run, db_value, typed
from identities.imports.plan_registry import _may_take_from, _rules, _unique
from identities.services import ERR_NOT_OWNER

ERR_FINGERPRINT_TAKEN = "Another credential has this fingerprint."
ERR_REVOKED_IN_FILE = "The entitlement {value} is revoked: a credential cannot carry it."
ERR_NO_HOLDER = "A credential needs at least one holder."


def plan_credentials(cursor, run: Run) -> None:
    entity = formats.CREDENTIALS
    columns = [c for c in entity.columns if c.name != "external_id" and c.kind != formats.REF_LIST]
    select = ", ".join(
        f"{typed(run, 'credentials', c)} AS {c.name}"
        if c.name != "fingerprint"
        else "lower(s.fingerprint) AS fingerprint"
        for c in columns
    )
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_credentials")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_credentials AS
            SELECT s._line, s.external_id AS ext, d.id, {select},
                   COALESCE(string_to_array(s.holders, ';'), '{{}}') AS holder_exts,
                   string_to_array(s.entitlements, ';') AS entitlement_exts,
                   false AS changed
            FROM imp_credentials s JOIN map_credentials m ON m.ext = s.external_id
            LEFT JOIN identities_credential d ON d.id = m.db_id"""
    )
    cursor.execute("CREATE INDEX ON res_credentials (ext)")
    mine = ", ".join(f"r.{c.name}" for c in columns)
    theirs = ", ".join(db_value(c) for c in columns)
    holders_now = """(SELECT array_agg(DISTINCT mi.db_id ORDER BY mi.db_id) FROM unnest(r.holder_exts) h
                      JOIN map_identities mi ON mi.ext = h)"""
    holders_before = """(SELECT array_agg(h.identity_id ORDER BY h.identity_id)
                         FROM identities_credential_holders h WHERE h.credential_id = r.id)"""
    entitlements_changed = "false"
    if run.present("credentials", "entitlements"):
        entitlements_changed = """COALESCE(
                (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(r.entitlement_exts) x), '{}')
            IS DISTINCT FROM COALESCE((SELECT array_agg(DISTINCT COALESCE(e.external_id::text, e.uuid::text) ORDER BY
                COALESCE(e.external_id::text, e.uuid::text))
              FROM identities_credential_entitlements ce JOIN identities_entitlement e ON e.id = ce.entitlement_id
              WHERE ce.credential_id = r.id AND e.revoked_at IS NULL), '{}')"""
    cursor.execute(
        f"""UPDATE res_credentials r SET changed = true FROM identities_credential d
            WHERE d.id = r.id AND (({mine}) IS DISTINCT FROM ({theirs})
               OR {holders_now} IS DISTINCT FROM {holders_before} OR {entitlements_changed})"""
    )
    table, name = "res_credentials", "credentials"
    rule = _rules(cursor, run, name, table)
    _unique(cursor, run, name, "fingerprint", "identities_credential", ERR_FINGERPRINT_TAKEN)
    rule("holders", "cardinality(r.holder_exts) = 0", message=ERR_NO_HOLDER)
    cursor.execute(
        """INSERT INTO imp_errors (file, line, field, message)
           SELECT %(file)s, r._line, 'entitlements', replace(%(message)s, '{value}', quote_literal(x))
           FROM res_credentials r CROSS JOIN LATERAL unnest(r.entitlement_exts) x
           JOIN res_entitlements e ON e.ext = x WHERE e.plan = 'revoked'""",
        run.params(file=run.file(name), message=ERR_REVOKED_IN_FILE),
    )
    if not run.importer.system:
        rule(
            "holders",
            f"""(r.id IS NULL OR r.changed) AND (
                 EXISTS (SELECT 1 FROM unnest(r.holder_exts) h JOIN perm_identities p ON p.ext = h
                         WHERE NOT p.may_change)
                 OR EXISTS (SELECT 1 FROM identities_credential_holders h WHERE h.credential_id = r.id
                         AND NOT {_may_take_from("h.identity_id")}))""",
            message=ERR_NOT_OWNER,
        )
