"""Privilege separation: what the app's database role may do, table by table.

Triggers refuse UPDATE and DELETE on append-only tables, but a session can skip triggers
(`session_replication_role`, `ALTER TABLE … DISABLE TRIGGER`, pgtrigger's own ignore switch), so the real
control is that the role the app connects as holds only SELECT and INSERT there, owns no table and is not
a superuser. A model naming `app_role_updates` (signing keys, entitlements) gets SELECT, INSERT and UPDATE
of those columns only; rules that depend on row values are plain triggers (audit.hardening). The schema's
owner (DATABASE_OWNER_URL) runs migrations and applies these grants.
"""

from __future__ import annotations

import re

import pgtrigger
from django.apps import apps
from django.core import checks
from django.db.backends.base.base import BaseDatabaseWrapper

ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
BAD_ROLE_NAME = "Role names are letters, digits and underscores (not starting with a digit), at most 63 long."
ROLE_MISSING = "There is no database role named {role}."
ROLE_IS_SUPERUSER = "{role} is a superuser: privileges do not bind it. The app needs a role of its own."
ROLE_OWNS_TABLES = "{role} owns {tables}: an owner can grant itself anything back. The app needs a role of its own."

ORDINARY = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY = "SELECT, INSERT"
# MIGRATIONS_TABLE: the app reads it (showmigrations, health checks) but never migrates.
MIGRATIONS_TABLE = "django_migrations"


def column_limited_models() -> list[type]:
    """Every installed model that names the only columns the app role may UPDATE (`app_role_updates`); it
    gets no DELETE either."""
    return [model for model in apps.get_models() if getattr(model, "app_role_updates", None)]


def append_only_models() -> list[type]:
    """Every installed model that declares `append_only = True`."""
    return [model for model in apps.get_models() if getattr(model, "append_only", False)]


def grant_statements(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """GRANT/REVOKE statements giving `role` what the app needs and no more. Idempotent: run them after
    every migration (new tables get no privileges until then)."""
    if not ROLE_NAME.match(role):
        raise ValueError(BAD_ROLE_NAME)
    quote = connection.ops.quote_name
    who = quote(role)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        tables = set(connection.introspection.django_table_names(only_existing=True, include_views=False))
    append_only = {model._meta.db_table for model in append_only_models()} & tables
    limited = {m._meta.db_table: m for m in column_limited_models() if m._meta.db_table in tables}
    statements = [f"GRANT USAGE ON SCHEMA {quote(schema)} TO {who};"]
    for table in sorted(tables - append_only - set(limited)):
        statements += [
            f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON TABLE {quote(table)} FROM {who};",
            f"GRANT {ORDINARY} ON TABLE {quote(table)} TO {who};",
        ]
    for table in sorted(append_only):
        statements += [
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE {quote(table)} FROM {who};",
            f"GRANT {APPEND_ONLY} ON TABLE {quote(table)} TO {who};",
        ]
    for table, model in sorted(limited.items()):
        columns = ", ".join(quote(model._meta.get_field(name).column) for name in model.app_role_updates)
        statements += [
            # Revoking UPDATE on the table revokes it on every column too, so this stays idempotent.
            f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE {quote(table)} FROM {who};",
            f"GRANT {APPEND_ONLY} ON TABLE {quote(table)} TO {who};",
            f"GRANT UPDATE ({columns}) ON TABLE {quote(table)} TO {who};",
        ]
    statements += [
        f"REVOKE ALL ON TABLE {quote(MIGRATIONS_TABLE)} FROM {who};",
        f"GRANT SELECT ON TABLE {quote(MIGRATIONS_TABLE)} TO {who};",
        # USAGE lets INSERT draw ids; no UPDATE, so the role cannot setval() a sequence backwards.
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quote(schema)} TO {who};",
    ]
    return statements


def role_problem(connection: BaseDatabaseWrapper, role: str) -> str | None:
    """Why `role` cannot be the app's role (missing, superuser, owns tables), or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        found = cursor.fetchone()
        if found is None:
            return ROLE_MISSING.format(role=role)
        if found[0]:
            return ROLE_IS_SUPERUSER.format(role=role)
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE tableowner = %s AND schemaname = current_schema() "
            "ORDER BY tablename LIMIT 4",
            [role],
        )
        owned = [name for (name,) in cursor.fetchall()]
    if owned:
        return ROLE_OWNS_TABLES.format(role=role, tables=", ".join(owned))
    return None


def _refuses_update_and_delete(trigger) -> bool:
    operation = str(getattr(trigger, "operation", ""))
    return (
        isinstance(trigger, pgtrigger.Protect)
        and trigger.condition is None
        and {"UPDATE", "DELETE"} <= set(operation.split(" OR "))
    )


@checks.register(checks.Tags.models)
def append_only_models_are_protected(app_configs=None, **kwargs):
    """An append-only model must also carry a trigger refusing UPDATE and DELETE."""
    errors = []
    for model in append_only_models():
        if not any(_refuses_update_and_delete(t) for t in getattr(model._meta, "triggers", [])):
            errors.append(
                checks.Error(
                    f"{model._meta.label} is append-only but has no trigger refusing UPDATE and DELETE",
                    hint="Add pgtrigger.Protect(operation=pgtrigger.Update | pgtrigger.Delete) to Meta.triggers.",
                    obj=model,
                    id="audit.E001",
                )
            )
    return errors
