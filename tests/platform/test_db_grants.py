"""Privilege separation: the app's role may only INSERT and SELECT on append-only tables, so even a
session that would skip triggers cannot change the audit trail (real PostgreSQL, a throwaway role)."""

import os
import re
import subprocess
import sys
from io import StringIO
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditCheckpoint, AuditEntry
from audit.privileges import BAD_ROLE_NAME, append_only_models
from audit.trail import audit_record_now
from tests.support import ROOT, child_env, database_url

pytestmark = pytest.mark.django_db


def grants(*args) -> str:
    out = StringIO()
    call_command("db_grants", *args, stdout=out)
    return out.getvalue()


def test_append_only_models_are_found_by_their_flag():
    assert {AuditEntry, AuditCheckpoint} <= set(append_only_models())
    assert all(model.append_only is True for model in append_only_models())


def test_the_printed_grants_allow_only_select_and_insert_on_append_only_tables():
    lines = grants("agentiam_app").splitlines()
    for table in ("audit_auditentry", "audit_auditcheckpoint"):
        mine = [line for line in lines if f'"{table}"' in line]
        assert mine == [
            f'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE "{table}" FROM "agentiam_app";',
            f'GRANT SELECT, INSERT ON TABLE "{table}" TO "agentiam_app";',
        ]
    # A signing key: INSERT, and UPDATE only of its status, retirement and (wiped) private half; no DELETE.
    assert [line for line in lines if '"audit_signingkey"' in line] == [
        'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE "audit_signingkey" FROM "agentiam_app";',
        'GRANT SELECT, INSERT ON TABLE "audit_signingkey" TO "agentiam_app";',
        'GRANT UPDATE ("status", "retired_at", "private_key_encrypted") ON TABLE "audit_signingkey" TO "agentiam_app";',
    ]
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "auth_user" TO "agentiam_app";' in lines
    assert 'GRANT SELECT ON TABLE "django_migrations" TO "agentiam_app";' in lines
    assert 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "agentiam_app";' in lines
    assert not any("TRUNCATE" in line and line.startswith("GRANT") for line in lines)


def test_a_role_name_that_is_not_a_plain_identifier_is_refused():
    with pytest.raises(CommandError, match=re.escape(BAD_ROLE_NAME)):
        grants('app"; DROP TABLE audit_auditentry; --')


def test_grants_are_not_applied_to_a_missing_role_or_a_superuser():
    with pytest.raises(CommandError, match="There is no database role named agentiam_no_such_role"):
        grants("agentiam_no_such_role", "--apply")
    superuser = connection.settings_dict["USER"] or "postgres"
    with pytest.raises(CommandError, match=f"{superuser} is a superuser: privileges do not bind it"):
        grants(superuser, "--apply")


def test_an_append_only_model_without_a_protecting_trigger_fails_the_system_check(monkeypatch):
    assert not [e for e in checks.run_checks() if e.id == "audit.E001"]
    monkeypatch.setattr(AuditCheckpoint._meta, "triggers", [])
    errors = [e for e in checks.run_checks() if e.id == "audit.E001"]
    assert [e.msg for e in errors] == [
        "audit.AuditCheckpoint is append-only but has no trigger refusing UPDATE and DELETE"
    ]


def test_an_owner_database_url_adds_the_owner_connection_used_for_migrations():
    code = "from django.conf import settings as s; o = s.DATABASES['owner']; print(o['USER'], o['NAME'], o['HOST'])"
    env = child_env(DATABASE_OWNER_URL="postgresql://agentiam_owner@db.example.com:5432/agentiam")
    result = _manage("shell", "-v", "0", "-c", code, env=env)
    assert result.stdout.split() == ["agentiam_owner", "agentiam", "db.example.com"], result.stderr
    result = _manage("check", env=child_env(DATABASE_OWNER_URL="mysql://root@db.example.com/agentiam"))
    assert result.returncode != 0 and "DATABASE_OWNER_URL must point at PostgreSQL" in result.stderr


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _url_as(role: str) -> str:
    parts = urlsplit(database_url())
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[1]}"))


@pytest.fixture
def app_role():
    """A throwaway LOGIN role, dropped (with every privilege it was granted) afterwards."""
    role = f"agentiam_app_test_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_app_role_works_but_cannot_change_or_skip_the_protection_of_the_audit_trail(app_role, tmp_path):
    env = child_env(
        DATABASE_URL=_url_as(app_role),
        DATABASE_OWNER_URL=database_url(),
        AUDIT_CHECKPOINT_SINK=str(tmp_path / "checkpoints.jsonl"),
    )
    applied = _manage("db_grants", app_role, "--apply", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "through the 'owner' connection" in applied.stdout
    # Migrations run through the owner's connection: the alias is there and sees them all applied.
    migrated = _manage("migrate", "--database", "owner", "--check", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    # As the app role: services write the trail and rotate keys; verification reads everything it needs.
    for command in (["rotate_signing_key", "token"], ["verify_audit_trail"]):
        result = _manage(*command, env=env)
        assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 1 entries")
    entry = audit_record_now(actor=None, action="system.check")

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or None, dbname=settings["NAME"], user=app_role, autocommit=True
    ) as app:
        assert app.execute("SELECT count(*) FROM audit_auditentry").fetchone()[0] == 2
        app.execute("UPDATE django_session SET expire_date = expire_date WHERE false")  # ordinary table: allowed
        for statement in (
            "UPDATE audit_auditentry SET action = 'forged'",
            "DELETE FROM audit_auditentry",
            "TRUNCATE audit_auditentry",
            "UPDATE audit_auditcheckpoint SET entry_count = 0",
            "DELETE FROM audit_auditcheckpoint",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table"):
                app.execute(statement)
        # The ways a session skips triggers are closed to it too.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to set parameter"):
            app.execute("SET session_replication_role = replica")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner of table"):
            app.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
    assert AuditEntry.objects.get(pk=entry.pk).action == "system.check"
