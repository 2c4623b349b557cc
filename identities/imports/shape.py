"""First pass over the staging tables: is every value well formed, and does every reference resolve?

Set-wise SQL rules write problems to the temporary table `imp_errors` (file, line, field, message); the
few checks SQL cannot express — SPIFFE IDs and OIDC subjects, entitlement scopes — run in Python over
the rows (or the distinct values) that need them, with the same functions the services use.
"""

# ruff: noqa: S608 - SQL is assembled from this package's own table and column names, never from input;
# values always travel as parameters.

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from agentiam import jsonsafe
from identities.imports import formats
from identities.imports.formats import Column, Entity
from identities.imports.loader import LoadedFile, staging_table
from identities.imports.report import Report
from identities.models import IdentifierKind
from identities.scope import InvalidScope, validate_scope
from identities.services import ERR_FINGERPRINT, normalise_identifier

WHITESPACE = " \t\r\n"
UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?$"

ERR_REQUIRED = "A value is required."
ERR_TOO_LONG = "At most {n} characters."
ERR_CHOICE = "{value} is not one of: {choices}."
ERR_BOOL = "Must be true or false."
ERR_INT = "Must be a whole number."
ERR_DATETIME = "Not a date and time (ISO 8601, e.g. 2026-05-01T12:00:00Z)."
ERR_SCOPE = "Not a valid scope: {detail}."
ERR_EXTERNAL_ID = "An external id must not contain ';'."
ERR_DUPLICATE_ID = "Duplicate external id: line {line} has the same one."
ERR_UNKNOWN_REF = "Unknown {label}: no row of {file} and no {label} in the registry has the external id {value}."
ERR_UNKNOWN_PERSON_REF = "Unknown person: persons.csv has no row with the external id {value}."
ERR_NO_PERSON = "No person has the e-mail address {value}."
ERR_TWO_PERSONS = "Several persons have the e-mail address {value}; use a unique address."

TYPES_NEEDING_TIMESTAMPS = """
CREATE OR REPLACE FUNCTION pg_temp.imp_ts(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF value IS NULL OR value !~ '{regex}' THEN RETURN NULL; END IF;
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN RETURN NULL;
END $$
""".replace("{regex}", TIMESTAMP_RE.replace("'", "''"))


def member_of(entity: Entity, loaded: dict[str, LoadedFile]) -> str:
    found = loaded.get(entity.name)
    return found.member if found else f"{entity.name}.csv"


def prepare(cursor) -> None:
    cursor.execute(TYPES_NEEDING_TIMESTAMPS)
    cursor.execute("DROP TABLE IF EXISTS pg_temp.imp_errors")
    cursor.execute(
        "CREATE TEMPORARY TABLE imp_errors "
        "(file text, line bigint, field text, message text, level text DEFAULT 'error')"
    )


def collect(cursor, report: Report) -> None:
    """Move what the SQL rules found into the report (all counted, the first ones listed)."""
    cursor.execute("SELECT level, count(*) FROM imp_errors GROUP BY level")
    counts = dict(cursor.fetchall())
    cursor.execute(
        "SELECT file, line, field, message, level FROM imp_errors "
        "ORDER BY level <> 'error', file, line, field LIMIT %s",
        [1000],
    )
    listed = cursor.fetchall()
    for file, line, field, message, level in listed:
        report.add(file, line, field, message, level)
    for level, total in counts.items():
        shown = sum(1 for row in listed if row[4] == level)
        if level == "error":
            report.error_count += total - shown
        else:
            report.notice_count += total - shown
    cursor.execute("TRUNCATE imp_errors")


def _error(cursor, file: str, table: str, field: str, message_sql: str, where: str, params=()) -> None:
    cursor.execute(
        f"INSERT INTO imp_errors (file, line, field, message) "
        f"SELECT %s, _line, %s, {message_sql} FROM {table} s WHERE {where}",
        [file, field, *params],
    )


def _quoted(sql: str) -> str:
    return f"quote_literal(left({sql}, 80))"


# --- normalising ----------------------------------------------------------------------------------------------


def normalise(cursor, loaded: dict[str, LoadedFile]) -> None:
    """Trim every value, empty → NULL, and tidy list items — touching only the rows that need it."""
    for name in loaded:
        entity = formats.BY_NAME[name]
        table = staging_table(entity)
        sets, tests = [], []
        for column in entity.columns:
            c = column.name
            trimmed = f"NULLIF(btrim({c}, E' \\t\\r\\n'), '')"
            if column.kind in (formats.LIST, formats.ENUM_LIST, formats.REF_LIST):
                tidy = (
                    f"NULLIF(array_to_string(ARRAY(SELECT btrim(x, E' \\t\\r\\n') "
                    f"FROM unnest(string_to_array({c}, ';')) x WHERE btrim(x, E' \\t\\r\\n') <> ''), ';'), '')"
                )
                sets.append(f"{c} = {tidy}")
                tests.append(f"{c} IS DISTINCT FROM {tidy}")
            else:
                sets.append(f"{c} = {trimmed}")
                tests.append(f"{c} IS DISTINCT FROM {trimmed}")
        cursor.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {' OR '.join(tests)}")


# --- column rules ---------------------------------------------------------------------------------------------


def check_columns(cursor, loaded: dict[str, LoadedFile]) -> None:
    for name, found in loaded.items():
        entity = formats.BY_NAME[name]
        table, file = staging_table(entity), found.member
        for column in entity.columns:
            if column.name in found.columns:
                _column_rules(cursor, file, table, column)
        _error(cursor, file, table, "external_id", "%s", "external_id LIKE '%%;%%'", [ERR_EXTERNAL_ID])
        cursor.execute(
            f"""
            INSERT INTO imp_errors (file, line, field, message)
            SELECT %s, _line, 'external_id', replace(%s, '{{line}}', first::text)
            FROM (SELECT _line, min(_line) OVER (PARTITION BY external_id) AS first
                  FROM {table} WHERE external_id IS NOT NULL) d
            WHERE _line <> first
            """,
            [file, ERR_DUPLICATE_ID],
        )


def _column_rules(cursor, file: str, table: str, column: Column) -> None:
    c = column.name
    if column.required:
        _error(cursor, file, table, c, "%s", f"{c} IS NULL", [ERR_REQUIRED])
    if column.max_length and column.kind in (formats.TEXT, formats.REF):
        _error(
            cursor,
            file,
            table,
            c,
            "%s",
            f"length({c}) > %s",
            [ERR_TOO_LONG.format(n=column.max_length), column.max_length],
        )
    if column.kind == formats.ENUM:
        message = f"replace(%s, '{{value}}', {_quoted(c)})"
        _error(
            cursor,
            file,
            table,
            c,
            message,
            f"{c} IS NOT NULL AND {c} <> ALL(%s)",
            [ERR_CHOICE.replace("{choices}", ", ".join(column.choices)), list(column.choices)],
        )
    elif column.kind == formats.BOOL:
        words = list(formats.TRUE_WORDS + formats.FALSE_WORDS)
        _error(cursor, file, table, c, "%s", f"{c} IS NOT NULL AND lower({c}) <> ALL(%s)", [ERR_BOOL, words])
    elif column.kind == formats.INT:
        _error(cursor, file, table, c, "%s", f"{c} IS NOT NULL AND {c} !~ '^[0-9]{{1,9}}$'", [ERR_INT])
    elif column.kind == formats.DATETIME:
        _error(cursor, file, table, c, "%s", f"{c} IS NOT NULL AND pg_temp.imp_ts({c}) IS NULL", [ERR_DATETIME])
    elif column.kind == formats.ENUM_LIST:
        cursor.execute(
            f"""
            INSERT INTO imp_errors (file, line, field, message)
            SELECT %s, s._line, %s, replace(%s, '{{value}}', {_quoted("bad.item")})
            FROM {table} s
            CROSS JOIN LATERAL (
                SELECT item FROM unnest(string_to_array(s.{c}, ';')) item WHERE item <> ALL(%s) LIMIT 1
            ) bad
            WHERE s.{c} IS NOT NULL
            """,
            [file, c, ERR_CHOICE.replace("{choices}", ", ".join(column.choices)), list(column.choices)],
        )
    elif column.kind == formats.LIST and column.max_length:
        _error(
            cursor,
            file,
            table,
            c,
            "%s",
            f"EXISTS (SELECT 1 FROM unnest(string_to_array({c}, ';')) item WHERE length(item) > %s)",
            [ERR_TOO_LONG.format(n=column.max_length), column.max_length],
        )


# --- checks in Python -----------------------------------------------------------------------------------------


def check_identifiers(cursor, loaded: dict[str, LoadedFile]) -> None:
    """SPIFFE IDs and OIDC subjects, with the services' own rules; valid ones are stored normalised."""
    if "identifiers" not in loaded:
        return
    file = loaded["identifiers"].member
    cursor.execute(
        "SELECT _line, kind, value FROM imp_identifiers WHERE value IS NOT NULL AND kind = ANY(%s)",
        [[IdentifierKind.SPIFFE.value, IdentifierKind.OIDC_SUBJECT.value]],
    )
    problems, changed = [], []
    for line, kind, value in cursor.fetchall():
        try:
            clean = normalise_identifier(kind, value)
        except ValidationError as error:
            problems.append((file, line, "value", error.message_dict["value"][0]))
            continue
        if clean != value:
            changed.append((line, clean))
    _insert_errors(cursor, problems)
    if changed:
        cursor.execute("CREATE TEMPORARY TABLE imp_clean (line bigint PRIMARY KEY, value text)")
        with cursor.cursor.copy("COPY imp_clean FROM STDIN") as copy:
            for row in changed:
                copy.write_row(row)
        cursor.execute("UPDATE imp_identifiers s SET value = c.value FROM imp_clean c WHERE s._line = c.line")
        cursor.execute("DROP TABLE imp_clean")


def check_scopes(cursor, loaded: dict[str, LoadedFile]) -> None:
    """Each distinct scope once, through `identities.scope.validate_scope`; the normal form is kept in
    `imp_scope` (raw text → jsonb) for the plan."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.imp_scope")
    cursor.execute("CREATE TEMPORARY TABLE imp_scope (raw text PRIMARY KEY, norm jsonb, error text)")
    if "entitlements" not in loaded or "scope" not in loaded["entitlements"].columns:
        return
    cursor.execute("SELECT DISTINCT scope FROM imp_entitlements WHERE scope IS NOT NULL")
    values = [row[0] for row in cursor.fetchall()]
    with cursor.cursor.copy("COPY imp_scope FROM STDIN") as copy:
        for raw in values:
            try:
                scope = validate_scope(jsonsafe.loads(raw, what="The scope"))
                copy.write_row((raw, json.dumps(scope), None))
            except (ValueError, InvalidScope) as error:
                detail = str(error) if isinstance(error, InvalidScope | jsonsafe.JsonRefused) else "not JSON"
                copy.write_row((raw, None, ERR_SCOPE.format(detail=detail.rstrip("."))))
    cursor.execute(
        """
        INSERT INTO imp_errors (file, line, field, message)
        SELECT %s, s._line, 'scope', x.error FROM imp_entitlements s JOIN imp_scope x ON x.raw = s.scope
        WHERE x.error IS NOT NULL
        """,
        [loaded["entitlements"].member],
    )


def check_fingerprints(cursor, loaded: dict[str, LoadedFile]) -> None:
    if "credentials" in loaded:
        _error(
            cursor,
            loaded["credentials"].member,
            "imp_credentials",
            "fingerprint",
            "%s",
            "fingerprint IS NOT NULL AND lower(fingerprint) !~ '^[0-9a-f]{32,128}$'",
            [ERR_FINGERPRINT],
        )


def resolve_persons(cursor, loaded: dict[str, LoadedFile]) -> None:
    """persons.csv names people by e-mail; each must be exactly one existing person (never created)."""
    cursor.execute("DROP TABLE IF EXISTS pg_temp.res_persons")
    cursor.execute(
        """
        CREATE TEMPORARY TABLE res_persons AS
        SELECT s._line, s.external_id AS ext, s.email, min(u.id) AS user_id, count(u.id) AS matches,
               bool_or(u.is_active) AS active
        FROM imp_persons s LEFT JOIN auth_user u ON lower(u.email) = lower(s.email)
        WHERE s.external_id IS NOT NULL AND s.email IS NOT NULL
        GROUP BY s._line, s.external_id, s.email
        """
    )
    cursor.execute("CREATE INDEX ON res_persons (ext)")
    if "persons" not in loaded:
        return
    file = loaded["persons"].member
    for message, where in ((ERR_NO_PERSON, "matches = 0"), (ERR_TWO_PERSONS, "matches > 1")):
        cursor.execute(
            f"""INSERT INTO imp_errors (file, line, field, message)
                SELECT %s, _line, 'email', replace(%s, '{{value}}', {_quoted("email")}) FROM res_persons
                WHERE {where}""",
            [file, message],
        )


def _insert_errors(cursor, problems) -> None:
    if not problems:
        return
    with cursor.cursor.copy("COPY imp_errors (file, line, field, message) FROM STDIN") as copy:
        for problem in problems:
            copy.write_row(problem)
