"""Database rules the app's own role cannot switch off.

pgtrigger wraps every trigger it installs in a check of the session setting `pgtrigger.ignore`, and any
role may `SET LOCAL` a custom setting. So a pgtrigger trigger binds the code, not a compromised app role.
What must hold against the app role is enforced twice: by privileges (audit.privileges: append-only tables
get no UPDATE or DELETE, `app_role_updates` limits UPDATE to named columns) and, where a rule depends on
the row's values, by a plain PL/pgSQL trigger made here, which consults no setting. The app role owns no
table, so it cannot disable or drop these; `session_replication_role` needs a superuser.
"""

from __future__ import annotations

from django.db import migrations

PREFIX = "agentiam_hard_"


def plain_trigger(*, table: str, name: str, operations: str, body: str) -> migrations.RunSQL:
    """A BEFORE ... FOR EACH ROW trigger calling a function with `body` (PL/pgSQL, ending in RETURN)."""
    function = f"{PREFIX}{name}"
    return migrations.RunSQL(
        sql=[
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $hard$\nBEGIN\n"
            f"{body}\nEND;\n$hard$;",
            f'DROP TRIGGER IF EXISTS {function} ON "{table}";',
            f'CREATE TRIGGER {function} BEFORE {operations} ON "{table}" FOR EACH ROW EXECUTE FUNCTION {function}();',
        ],
        reverse_sql=[f'DROP TRIGGER IF EXISTS {function} ON "{table}";', f"DROP FUNCTION IF EXISTS {function}();"],
    )


def plain_triggers_on(connection, table: str) -> set[str]:
    """Names of this module's triggers on `table` (for checks and tests)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgname LIKE %s",
            [table, PREFIX + "%"],
        )
        return {name for (name,) in cursor.fetchall()}
