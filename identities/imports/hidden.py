"""What the importer may not see is not there: after `refs.build_maps`, every registry object that belongs only
to identities the importer may not see (identities.rules, Right.VIEW, through `Identity.objects.restrict`)
loses its `db_id`, so a reference to it is reported exactly as a reference to nothing ("Unknown identity: ...")
and no rule of the planners ever runs on it (no "not one you may change", no "already exists").

A row of the file whose external id is taken by such an object cannot be created either; it is told only that
the external id is taken, which uniqueness cannot hide, and nothing about what holds it.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from identities.imports.context import Run
from identities.imports.refs import TABLES
from identities.models import Identity

ERR_EXTERNAL_ID_TAKEN = "The external id {value} is already in use: choose another."

# For each map: SQL that holds when the registry object `{id}` belongs to an identity the importer may see.
VISIBLE = {
    "identities": "{id} IN (SELECT id FROM actor_visible)",
    "identifiers": "EXISTS (SELECT 1 FROM identities_identifier x JOIN actor_visible v ON v.id = x.identity_id "
    "WHERE x.id = {id})",
    "entitlements": "EXISTS (SELECT 1 FROM identities_entitlement x JOIN actor_visible v ON v.id = x.identity_id "
    "WHERE x.id = {id})",
    "credentials": "EXISTS (SELECT 1 FROM identities_credential_holders x JOIN actor_visible v "
    "ON v.id = x.identity_id WHERE x.credential_id = {id})",
}
# An external id a new row cannot take: the unique constraints of the registry.
TAKEN = {
    "identities": "EXISTS (SELECT 1 FROM identities_identity x WHERE x.external_id = m.ext)",
    "identifiers": "EXISTS (SELECT 1 FROM identities_identifier x WHERE x.external_id = m.ext)",
    "entitlements": "EXISTS (SELECT 1 FROM identities_entitlement x WHERE x.external_id = m.ext "
    "AND x.revoked_at IS NULL)",
    "credentials": "EXISTS (SELECT 1 FROM identities_credential x WHERE x.external_id = m.ext)",
}


def hide_invisible(cursor, run: Run) -> None:
    if run.importer.system:
        return
    sql, params = Identity.objects.restrict(run.importer.user).values("id").query.sql_with_params()
    cursor.execute("DROP TABLE IF EXISTS pg_temp.actor_visible")
    cursor.execute(f"CREATE TEMPORARY TABLE actor_visible AS {sql}", params)
    cursor.execute("ALTER TABLE actor_visible ADD PRIMARY KEY (id)")
    for target, visible in VISIBLE.items():
        hidden = f"m.db_id IS NOT NULL AND NOT {visible.format(id='m.db_id')}"
        cursor.execute(f"UPDATE map_{target} m SET db_id = NULL WHERE {hidden}")
        if target == "entitlements":
            revoked = f"m.revoked_id IS NOT NULL AND NOT {visible.format(id='m.revoked_id')}"
            cursor.execute(f"UPDATE map_entitlements m SET revoked_id = NULL WHERE {revoked}")
        cursor.execute(
            f"""INSERT INTO imp_errors (file, line, field, message)
                SELECT %s, m.line, 'external_id', replace(%s, '{{value}}', quote_literal(left(m.ext, 80)))
                FROM map_{target} m WHERE m.in_file AND m.db_id IS NULL AND {TAKEN[target]}""",
            [run.file(target), ERR_EXTERNAL_ID_TAKEN],
        )


assert set(VISIBLE) == set(TAKEN) == set(TABLES) - {"systems", "tools"}  # every map of what identities own
