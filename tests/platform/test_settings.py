from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from agentiam.apps import refuse_old_postgresql
from agentiam.env import env_bool, env_choice, env_int, env_list, env_str
from tests import support

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "AGENTIAM_PROFILE": "production",
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-for-the-deploy-check-only-0123456789",
    "DJANGO_ALLOWED_HOSTS": "agentiam.example.com",
    "DATABASE_URL": "postgresql://agentiam@db.example.com:5432/agentiam",
    "REDIS_URL": "redis://cache.example.com:6379/0",
    "AGENTIAM_KEK": "cHJvZHVjdGlvbi1rZWstZm9yLXRoZS1jaGVjay1vbmw",
}


def run_manage(*args, env):
    return support.run_manage(*args, env=env, without=("DJANGO_", "AGENTIAM_", "DATABASE_URL", "REDIS_URL"))


def test_env_helpers_fail_loudly_on_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_SMALL", "3")
    monkeypatch.setenv("X_CHOICE", "staging")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT must be an integer"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="at least 5"):
        env_int("X_SMALL", 10, minimum=5)
    with pytest.raises(ImproperlyConfigured, match="X_CHOICE must be one of"):
        env_choice("X_CHOICE", ("local", "production"), "local")
    with pytest.raises(ImproperlyConfigured, match="X_MISSING must be set"):
        env_str("X_MISSING")


def test_env_helpers_read_good_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", " 42 ")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_str("X_UNSET", "fallback") == "fallback"


def test_production_profile_passes_the_deploy_check_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_profile_refuses_to_start_without_its_configuration(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must" in result.stderr


def test_only_postgresql_urls_are_accepted():
    result = run_manage("check", env={"AGENTIAM_PROFILE": "test", "DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_production_cookies_are_secure_and_local_ones_are_plain_http():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.DEBUG)"
    )
    production = run_manage("shell", "-v", "0", "-c", code, env=PRODUCTION_ENV)
    assert production.stdout.split() == ["True", "True", "True", "False"], production.stderr
    local_env = {"AGENTIAM_PROFILE": "local", "AGENTIAM_VAR_DIR": str(ROOT / "var" / "test" / "local-profile")}
    local = run_manage("shell", "-v", "0", "-c", code, env=local_env)
    assert local.stdout.split() == ["False", "False", "False", "False"], local.stderr


def test_local_profile_keeps_a_generated_secret_key_readable_by_its_owner_only(tmp_path):
    code = "from django.conf import settings as s; print(s.SECRET_KEY)"
    env = {"AGENTIAM_PROFILE": "local", "AGENTIAM_VAR_DIR": str(tmp_path)}
    first = run_manage("shell", "-v", "0", "-c", code, env=env)
    second = run_manage("shell", "-v", "0", "-c", code, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def _connection(version):
    return SimpleNamespace(
        vendor="postgresql",
        settings_dict={"HOST": "db"},
        connection=SimpleNamespace(info=SimpleNamespace(server_version=version)),
    )


def test_postgresql_older_than_15_is_refused():
    with pytest.raises(ImproperlyConfigured, match=r"PostgreSQL 15 or newer.*14\.9"):
        refuse_old_postgresql(None, _connection(140009))
    refuse_old_postgresql(None, _connection(150004))


@pytest.mark.django_db
def test_the_test_database_is_postgresql_15_or_newer():
    from django.db import connection

    connection.ensure_connection()
    assert connection.vendor == "postgresql"
    assert connection.connection.info.server_version >= 150000
