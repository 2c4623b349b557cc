"""References between files and to the registry: one map table per entity type,

    map_<entity> (ext, in_file, line, db_id[, revoked_id])

holding every external id the ZIP mentions for that type — its own rows and the references to it — with
the registry object it already names: by external id, or by public id (UUID) for objects that have no
external id. An entitlement external id that names only revoked entitlements keeps that in revoked_id.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from identities.imports import formats
from identities.imports.context import Run, uuid_match
from identities.imports.formats import ENTITIES

TABLES = {
    "systems": "identities_system",
    "tools": "identities_tool",
    "identities": "identities_identity",
    "identifiers": "identities_identifier",
    "entitlements": "identities_entitlement",
    "credentials": "identities_credential",
}

ERR_UNKNOWN_REF = "Unknown {label}: no row of {file} and no {label} in the registry has the external id {value}."
ERR_UNKNOWN_PERSON = "Unknown person: {file} has no row with the external id {value}."
ERR_REVOKED_REF = "The entitlement {value} is revoked: a credential cannot carry it."


def _sources(target: str) -> list[str]:
    """SELECTs of every external id of type `target` that the staging tables mention."""
    selects = [f"SELECT external_id AS ext FROM imp_{target}"]
    for entity in ENTITIES:
        for column in entity.columns:
            if column.ref != target:
                continue
            if column.kind == formats.REF_LIST:
                selects.append(f"SELECT unnest(string_to_array({column.name}, ';')) FROM imp_{entity.name}")
            else:
                selects.append(f"SELECT {column.name} FROM imp_{entity.name}")
    return selects


def build_maps(cursor) -> None:
    for target, table in TABLES.items():
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.map_{target}")
        keys = " UNION ".join(_sources(target))
        if target == "entitlements":
            cursor.execute(
                f"""
                CREATE TEMPORARY TABLE map_entitlements AS
                SELECT k.ext, f.line IS NOT NULL AS in_file, f.line,
                       COALESCE(a.id, CASE WHEN b.revoked_at IS NULL THEN b.id END) AS db_id,
                       CASE WHEN a.id IS NULL THEN COALESCE(CASE WHEN b.revoked_at IS NOT NULL THEN b.id END, c.id)
                       END AS revoked_id
                FROM (SELECT DISTINCT ext FROM ({keys}) u WHERE ext IS NOT NULL) k
                LEFT JOIN (SELECT external_id AS ext, min(_line) AS line FROM imp_entitlements GROUP BY 1) f
                       ON f.ext = k.ext
                LEFT JOIN identities_entitlement a ON a.external_id = k.ext AND a.revoked_at IS NULL
                LEFT JOIN identities_entitlement b ON a.id IS NULL AND b.uuid = {uuid_match("k.ext")}
                LEFT JOIN (
                    SELECT DISTINCT ON (external_id) external_id, id FROM identities_entitlement
                    WHERE external_id IS NOT NULL AND revoked_at IS NOT NULL
                    ORDER BY external_id, revoked_at DESC
                ) c ON c.external_id = k.ext
                """
            )
        else:
            cursor.execute(
                f"""
                CREATE TEMPORARY TABLE map_{target} AS
                SELECT k.ext, f.line IS NOT NULL AS in_file, f.line, COALESCE(a.id, b.id) AS db_id
                FROM (SELECT DISTINCT ext FROM ({keys}) u WHERE ext IS NOT NULL) k
                LEFT JOIN (SELECT external_id AS ext, min(_line) AS line FROM imp_{target} GROUP BY 1) f
                       ON f.ext = k.ext
                LEFT JOIN {table} a ON a.external_id = k.ext
                LEFT JOIN {table} b ON a.id IS NULL AND b.uuid = {uuid_match("k.ext")}
                """
            )
        cursor.execute(f"ALTER TABLE map_{target} ADD PRIMARY KEY (ext)")
        cursor.execute(f"ANALYZE map_{target}")


def check_references(cursor, run: Run) -> None:
    """Every reference names a row of the ZIP or an object of the registry (persons: a row of the ZIP)."""
    for entity in ENTITIES:
        if not run.has(entity.name):
            continue
        file = run.file(entity.name)
        for column in entity.columns:
            if column.ref is None or not run.present(entity.name, column.name):
                continue
            target = formats.BY_NAME[column.ref]
            if column.kind == formats.REF_LIST:
                value_sql = "v.value"
                source = (
                    f"imp_{entity.name} s CROSS JOIN LATERAL unnest(string_to_array(s.{column.name}, ';')) AS v(value)"
                )
            else:
                value_sql = f"s.{column.name}"
                source = f"imp_{entity.name} s"
            quoted = f"quote_literal(left({value_sql}, 80))"
            if target.name == "persons":
                cursor.execute(
                    f"""INSERT INTO imp_errors (file, line, field, message)
                        SELECT %s, s._line, %s, replace(%s, '{{value}}', {quoted})
                        FROM {source} LEFT JOIN res_persons p ON p.ext = {value_sql}
                        WHERE {value_sql} IS NOT NULL AND p.ext IS NULL""",
                    [file, column.name, ERR_UNKNOWN_PERSON.replace("{file}", run.file("persons"))],
                )
                continue
            message = ERR_UNKNOWN_REF.replace("{label}", target.label).replace("{file}", run.file(target.name))
            revoked = "AND m.revoked_id IS NULL" if target.name == "entitlements" else ""
            cursor.execute(
                f"""INSERT INTO imp_errors (file, line, field, message)
                    SELECT %s, s._line, %s, replace(%s, '{{value}}', {quoted})
                    FROM {source} JOIN map_{target.name} m ON m.ext = {value_sql}
                    WHERE NOT m.in_file AND m.db_id IS NULL {revoked}""",
                [file, column.name, message],
            )
            if target.name == "entitlements":
                cursor.execute(
                    f"""INSERT INTO imp_errors (file, line, field, message)
                        SELECT %s, s._line, %s, replace(%s, '{{value}}', {quoted})
                        FROM {source} JOIN map_entitlements m ON m.ext = {value_sql}
                        WHERE NOT m.in_file AND m.db_id IS NULL AND m.revoked_id IS NOT NULL""",
                    [file, column.name, ERR_REVOKED_REF],
                )
