"""Second pass, part one: identities and identifiers (systems and tools are `plan_catalog`). Each file's rows
become a typed `res_<entity>` table that says what every row will do (new, changed or unchanged), and the
rules of the services ("who changes what") run over it set-wise. `_rules`, `_unique`, `_may_take_from` and
`_duplicates` are shared by the other planners."""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

from identities.imports import formats
from identities.imports.context import Run, db_value, typed
from identities.services import (
    ERR_NOT_OWNER,
    ERR_OWNER_INACTIVE,
    ERR_OWNER_ROLE,
    ERR_PARENT_CYCLE,
)

ERR_SAME_AS_LINE = "Same {what} as line {line}."
ERR_KIND_FIXED = "The kind of an identity cannot change."
ERR_PERSON_HUMAN = "Only a human identity links to a person."
ERR_IDENTITY_NOT_YOURS = "This identity exists and is not one you may change."
ERR_OWNER_SELF = "Identity owners register identities for themselves: leave owner empty or name yourself."
ERR_IDENTIFIER_TAKEN = "This identifier already belongs to an identity."


def _attributes(entity: formats.Entity, skip: set[str]) -> list[formats.Column]:
    return [c for c in entity.columns if c.name != "external_id" and c.name not in skip and c.kind != formats.REF]


def _rules(cursor, run: Run, entity: str, table: str):
    """The error rules of one file's staged `table`: `rule(field, where, sql=..., **params)` writes an error on
    `field` for every row that `where` holds for; its message is `sql` (by default the parameter `message`)."""

    def rule(field: str, where: str, sql: str = "%(message)s", **params) -> None:
        cursor.execute(
            f"""INSERT INTO imp_errors (file, line, field, message)
                SELECT %(file)s, r._line, %(field)s, {sql} FROM {table} r WHERE {where}""",
            run.params(file=run.file(entity), field=field, **params),
        )

    return rule


def _may_take_from(column: str) -> str:
    """SQL: the importer may take what `column` (an identity id) holds away from it: an owner from an identity it
    owns, an admin from one it does not (the services' rule for moving what an identity holds)."""
    return f"""((%(owner_role)s AND {column} IN (SELECT identity_id FROM actor_owned))
                 OR (%(admin)s AND {column} NOT IN (SELECT identity_id FROM actor_owned)))"""


def _duplicates(cursor, run: Run, entity: str, table: str, field: str, key_sql: str, what: str, where="true"):
    cursor.execute(
        f"""INSERT INTO imp_errors (file, line, field, message)
            SELECT %(file)s, _line, %(field)s, replace(%(message)s, '{{line}}', first::text)
            FROM (SELECT _line, min(_line) OVER (PARTITION BY {key_sql}) AS first FROM {table} r WHERE {where}) d
            WHERE _line <> first""",
        run.params(file=run.file(entity), field=field, message=ERR_SAME_AS_LINE.replace("{what}", what)),
    )


def _unique(cursor, run: Run, entity: str, column: str, db_table: str, message: str, quoted: bool = False):
    """`column` names one row: an error where another row of `db_table` already holds the value (`quoted`: the
    message's {value} is the value), and on every repeat of a value within the file."""
    table = f"res_{entity}"
    sql = f"replace(%(message)s, '{{value}}', quote_literal(r.{column}))" if quoted else "%(message)s"
    _rules(cursor, run, entity, table)(
        column,
        f"EXISTS (SELECT 1 FROM {db_table} o WHERE o.{column} = r.{column} AND o.id IS DISTINCT FROM r.id)",
        sql=sql,
        message=message,
    )
    _duplicates(cursor, run, entity, table, column, column, column)


def actor_tables(cursor, run: Run) -> None:
    cursor.execute("DROP TABLE IF EXISTS pg_temp.actor_owned")
    cursor.execute(
        """CREATE TEMPORARY TABLE actor_owned AS
           SELECT DISTINCT identity_id FROM identities_ownership
           WHERE person_id = %(actor)s AND valid_from <= %(now)s AND (valid_to IS NULL OR valid_to > %(now)s)""",
        run.params(),
    )


# --- identities -----------------------------------------------------------------------------------------------


def plan_identities(cursor, run: Run) -> None:
    columns = _attributes(formats.IDENTITIES, set())
    select = ", ".join(f"{typed(run, 'identities', c)} AS {c.name}" for c in columns)
    parent = "mp.db_id" if run.present("identities", "parent") else "d.parent_id"
    person = "pp.user_id" if run.present("identities", "person") else "d.person_id"
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_identities")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_identities AS
            SELECT s._line, s.external_id AS ext, d.id, d.kind::text AS old_kind, d.status::text AS old_status,
                   {select},
                   s.parent AS parent_ext, {parent} AS parent_id, {person} AS person_id,
                   po.user_id AS owner_id, po.active AS owner_active,
                   EXISTS (SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id
                           WHERE ug.user_id = po.user_id AND g.name = 'identity_owner') AS owner_has_role,
                   cur.person_id AS current_owner_id,
                   d.delegation_depth AS old_depth, COALESCE(d.delegation_depth, 0) AS depth,
                   false AS changed, false AS owner_changed
            FROM imp_identities s JOIN map_identities m ON m.ext = s.external_id
            LEFT JOIN identities_identity d ON d.id = m.db_id
            LEFT JOIN map_identities mp ON mp.ext = s.parent
            LEFT JOIN res_persons pp ON pp.ext = s.person
            LEFT JOIN res_persons po ON po.ext = s.owner
            LEFT JOIN identities_ownership cur ON cur.identity_id = d.id AND cur.role = 'accountable'
                 AND cur.valid_to IS NULL"""
    )
    cursor.execute("CREATE INDEX ON res_identities (ext)")
    _plan_depths(cursor, run)
    mine = ", ".join(f"r.{c.name}" for c in columns)
    theirs = ", ".join(db_value(c) for c in columns)
    cursor.execute(
        f"""UPDATE res_identities r SET changed = true FROM identities_identity d
            WHERE d.id = r.id AND (({mine}) IS DISTINCT FROM ({theirs})
               OR (r.parent_id, r.person_id, r.depth) IS DISTINCT FROM (d.parent_id, d.person_id, d.delegation_depth)
               OR (r.parent_ext IS NOT NULL AND r.parent_id IS NULL))"""
    )
    # Like identity_create: an identity owner who registers an identity becomes its accountable owner.
    cursor.execute(
        """UPDATE res_identities SET owner_id = %(actor)s, owner_active = true, owner_has_role = %(owner_role)s
           WHERE id IS NULL AND owner_id IS NULL AND NOT %(admin)s AND NOT %(system)s""",
        run.params(),
    )
    cursor.execute(
        """UPDATE res_identities SET owner_changed = true
           WHERE owner_id IS NOT NULL AND owner_id IS DISTINCT FROM current_owner_id"""
    )
    _permissions(cursor, run)
    rule = _rules(cursor, run, "identities", "res_identities")
    rule("kind", "r.id IS NOT NULL AND r.kind <> r.old_kind", message=ERR_KIND_FIXED)
    rule("person", "r.person_id IS NOT NULL AND r.kind <> 'human'", message=ERR_PERSON_HUMAN)
    if not run.importer.system:
        rule(
            "owner",
            "r.id IS NULL AND NOT %(admin)s AND %(owner_role)s AND r.owner_id IS DISTINCT FROM %(actor)s "
            "AND r.owner_id IS NOT NULL",
            message=ERR_OWNER_SELF,
        )
        rule(
            "external_id",
            "(r.id IS NULL OR r.changed OR r.owner_changed) AND NOT (SELECT p.may_change FROM perm_identities p "
            "WHERE p.ext = r.ext)",
            sql="CASE WHEN r.id IS NULL THEN %(new)s ELSE %(existing)s END",
            new=ERR_NOT_OWNER,
            existing=ERR_IDENTITY_NOT_YOURS,
        )
    rule("owner", "r.owner_changed AND NOT r.owner_active", message=ERR_OWNER_INACTIVE)
    rule("owner", "r.owner_changed AND r.owner_active AND NOT r.owner_has_role", message=ERR_OWNER_ROLE)


def _permissions(cursor, run: Run) -> None:
    """perm_identities: for every identity the ZIP mentions, whether the importer may change it (now), and
    whether they own it before or after the import — owning it at either time rules out standing
    write/admin/execute grants (separation of duties)."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.perm_identities")
    cursor.execute(
        """CREATE TEMPORARY TABLE perm_identities AS
           SELECT m.ext, m.db_id,
                  ao.identity_id IS NOT NULL AS owned_pre,
                  (ao.identity_id IS NOT NULL OR COALESCE(r.owner_id = %(actor)s, false)
                   OR (m.db_id IS NULL AND NOT %(admin)s AND NOT %(system)s)) AS owned_after,
                  (%(system)s OR CASE WHEN m.db_id IS NULL THEN (%(admin)s OR %(owner_role)s)
                        ELSE ((%(owner_role)s AND ao.identity_id IS NOT NULL)
                              OR (%(admin)s AND ao.identity_id IS NULL)) END) AS may_change,
                  COALESCE(d.status::text, 'active') AS status
           FROM map_identities m
           LEFT JOIN actor_owned ao ON ao.identity_id = m.db_id
           LEFT JOIN res_identities r ON r.ext = m.ext
           LEFT JOIN identities_identity d ON d.id = m.db_id""",
        run.params(),
    )
    cursor.execute("ALTER TABLE perm_identities ADD PRIMARY KEY (ext)")


def _plan_depths(cursor, run: Run) -> None:
    """Delegation depth follows the parent chain, which the file may change: walk the merged graph (file rows
    over registry rows), refuse cycles, and store each row's depth."""
    cursor.execute("SELECT ext, _line, id, parent_id, parent_ext FROM res_identities")
    rows = cursor.fetchall()
    if not rows:
        return
    by_db = {db_id: ext for ext, _, db_id, _, _ in rows if db_id is not None}
    line_of = {ext: line for ext, line, *_ in rows}
    parent_of: dict[tuple, tuple | None] = {}

    def node(db_id=None, ext=None):
        if ext is not None:
            return ("ext", ext)
        if db_id is None:
            return None
        return ("ext", by_db[db_id]) if db_id in by_db else ("id", db_id)

    for ext, _line, _db_id, parent_id, parent_ext in rows:
        if parent_ext is not None and parent_id is None:
            parent_of[("ext", ext)] = ("ext", parent_ext)  # a new identity of this file
        else:
            parent_of[("ext", ext)] = node(db_id=parent_id)
    start = [key[1] for key in parent_of.values() if key and key[0] == "id"]
    if start:
        cursor.execute(
            """WITH RECURSIVE up(id, parent_id) AS (
                   SELECT id, parent_id FROM identities_identity WHERE id = ANY(%s)
                   UNION SELECT i.id, i.parent_id FROM identities_identity i JOIN up ON i.id = up.parent_id)
               SELECT id, parent_id FROM up""",
            [start],
        )
        for db_id, parent_id in cursor.fetchall():
            if db_id not in by_db:
                parent_of[("id", db_id)] = node(db_id=parent_id)
    depth: dict[tuple, int] = {}
    cyclic: set[str] = set()
    for key in list(parent_of):
        path, seen, current = [], set(), key
        while current is not None and current not in depth and current not in seen:
            seen.add(current)
            path.append(current)
            current = parent_of.get(current)
        if current is not None and current in seen:
            loop = path[path.index(current) :]
            cyclic |= {k[1] for k in loop if k[0] == "ext"}
            for k in path:
                depth[k] = 0
            continue
        base = -1 if current is None else depth[current]
        for k in reversed(path):
            base += 1
            depth[k] = base
    problems = [(run.file("identities"), line_of[ext], "parent", ERR_PARENT_CYCLE) for ext in sorted(cyclic)]
    if problems:
        with cursor.cursor.copy("COPY imp_errors (file, line, field, message) FROM STDIN") as copy:
            for problem in problems:
                copy.write_row(problem)
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_depth")
    cursor.execute("CREATE TEMPORARY TABLE res_depth (ext text PRIMARY KEY, depth integer)")
    with cursor.cursor.copy("COPY res_depth FROM STDIN") as copy:
        for ext, *_ in rows:
            copy.write_row((ext, depth.get(("ext", ext), 0)))
    cursor.execute(
        "UPDATE res_identities r SET depth = x.depth FROM res_depth x WHERE x.ext = r.ext AND r.depth <> x.depth"
    )


# --- identifiers ----------------------------------------------------------------------------------------------


def plan_identifiers(cursor, run: Run) -> None:
    columns = _attributes(formats.IDENTIFIERS, set())
    select = ", ".join(f"{typed(run, 'identifiers', c)} AS {c.name}" for c in columns)
    identity = "mi.db_id" if run.present("identifiers", "identity") else "d.identity_id"
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_identifiers")
    cursor.execute(
        f"""CREATE TEMPORARY TABLE res_identifiers AS
            SELECT s._line, s.external_id AS ext, d.id, s.identity AS identity_ext, {identity} AS identity_id,
                   d.identity_id AS old_identity_id, {select}, false AS changed
            FROM imp_identifiers s JOIN map_identifiers m ON m.ext = s.external_id
            LEFT JOIN map_identities mi ON mi.ext = s.identity
            LEFT JOIN identities_identifier d ON d.id = m.db_id"""
    )
    mine = ", ".join(f"r.{c.name}" for c in columns)
    theirs = ", ".join(db_value(c) for c in columns)
    cursor.execute(
        f"""UPDATE res_identifiers r SET changed = true FROM identities_identifier d
            WHERE d.id = r.id
              AND (({mine}) IS DISTINCT FROM ({theirs}) OR r.identity_id IS DISTINCT FROM d.identity_id)"""
    )
    table, entity = "res_identifiers", "identifiers"
    rule = _rules(cursor, run, entity, table)
    _unique(cursor, run, entity, "value", "identities_identifier", ERR_IDENTIFIER_TAKEN)
    if not run.importer.system:
        rule(
            "identity",
            f"""(r.id IS NULL OR r.changed) AND (
                 NOT (SELECT p.may_change FROM perm_identities p WHERE p.ext = r.identity_ext)
                 OR (r.old_identity_id IS NOT NULL AND r.old_identity_id IS DISTINCT FROM r.identity_id
                     AND NOT {_may_take_from("r.old_identity_id")}))""",
            message=ERR_NOT_OWNER,
        )
