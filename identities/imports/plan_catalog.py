"""Second pass, part one (continued): systems and tools. Each file's rows become a typed `res_<entity>` table
that says what every row will do, and only administrators may change the catalogue."""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from identities.imports import formats
from identities.imports.context import Run, db_value, typed
from identities.imports.plan_registry import _attributes, _rules, _unique

ERR_REGISTRY_ADMIN = "Only an administrator may change systems and tools."
ERR_NAME_TAKEN = "A system named {value} already exists."
ERR_KEY_TAKEN = "A tool with the key {value} already exists."


def plan_systems(cursor, run: Run) -> None:
    columns = _attributes(formats.SYSTEMS, set())
    select = ", ".join(f"{typed(run, 'systems', c)} AS {c.name}" for c in columns)
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_systems")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_systems AS
            SELECT s._line, s.external_id AS ext, d.id, {select}, false AS changed
            FROM imp_systems s JOIN map_systems m ON m.ext = s.external_id
            LEFT JOIN identities_system d ON d.id = m.db_id"""
    )
    mine = ", ".join(f"r.{c.name}" for c in columns)
    theirs = ", ".join(db_value(c) for c in columns)
    cursor.execute(
        f"""UPDATE res_systems r SET changed = true FROM identities_system d
            WHERE d.id = r.id AND ({mine}) IS DISTINCT FROM ({theirs})"""
    )
    _registry_admin_rule(cursor, run, "systems")
    _unique(cursor, run, "systems", "name", "identities_system", ERR_NAME_TAKEN, quoted=True)


def plan_tools(cursor, run: Run) -> None:
    columns = _attributes(formats.TOOLS, set())
    select = ", ".join(f"{typed(run, 'tools', c)} AS {c.name}" for c in columns)
    system = "ms.db_id" if run.present("tools", "system") else "d.system_id"
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_tools")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_tools AS
            SELECT s._line, s.external_id AS ext, d.id, s.system AS system_ext, {system} AS system_id, {select},
                   d.id IS NOT NULL AND (d.production, d.production_secrets) IS DISTINCT FROM
                       ({typed(run, "tools", formats.TOOLS.column("production"))},
                        {typed(run, "tools", formats.TOOLS.column("production_secrets"))}) AS risk_changed,
                   false AS changed
            FROM imp_tools s JOIN map_tools m ON m.ext = s.external_id
            LEFT JOIN map_systems ms ON ms.ext = s.system
            LEFT JOIN identities_tool d ON d.id = m.db_id"""
    )
    mine = ", ".join(f"r.{c.name}" for c in columns)
    theirs = ", ".join(db_value(c) for c in columns)
    cursor.execute(
        f"""UPDATE res_tools r SET changed = true FROM identities_tool d
            WHERE d.id = r.id AND (({mine}) IS DISTINCT FROM ({theirs}) OR r.system_id IS DISTINCT FROM d.system_id)"""
    )
    _registry_admin_rule(cursor, run, "tools")
    _unique(cursor, run, "tools", "key", "identities_tool", ERR_KEY_TAKEN, quoted=True)


def _registry_admin_rule(cursor, run: Run, entity: str) -> None:
    if run.importer.admin or run.importer.system:
        return
    _rules(cursor, run, entity, f"res_{entity}")("external_id", "r.id IS NULL OR r.changed", message=ERR_REGISTRY_ADMIN)
