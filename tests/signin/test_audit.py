"""Sign-ins and sign-outs are in the audit trail, failed sign-ins in the security-event log (never the
chained trail: they are unauthenticated), a password in neither; and Django's admin
site, whose writes would bypass services and the trail, is not mounted in production."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse

from audit.models import AuditEntry, SecurityEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "agentiam-demo-2026"


@pytest.fixture(autouse=True)
def fresh_limits():
    cache.clear()  # the security-event log's rate limit counts per source address in Redis


def entry_text(entry) -> str:
    return json.dumps([str(getattr(entry, field.name)) for field in type(entry)._meta.fields], ensure_ascii=False)


def failed() -> SecurityEvent:
    assert not AuditEntry.objects.filter(action__startswith="auth.login").exists()
    return SecurityEvent.objects.get(kind="auth.login.failed")


def test_a_sign_in_and_a_sign_out_are_recorded_with_who_and_from_where(client):
    person = UserFactory(username="dana")
    client.post(reverse("login"), {"username": "dana", "password": PASSWORD}, REMOTE_ADDR="192.0.2.7")
    client.post(reverse("logout"), REMOTE_ADDR="192.0.2.7")
    login, logout = AuditEntry.objects.order_by("id")
    assert (login.action, login.actor_id, login.changes) == ("auth.login", person.pk, {"method": "password"})
    assert login.object_type == "identities.profile" and login.object_id == str(person.profile.uuid)
    assert str(login.ip_address) == "192.0.2.7"
    assert (logout.action, logout.actor_id, logout.changes) == ("auth.logout", person.pk, {"reason": "signed_out"})


def test_a_failed_sign_in_records_the_username_tried_and_never_the_password(client):
    UserFactory(username="dana")
    secret = "Correct-Horse-Battery-9"
    client.post(reverse("login"), {"username": "dana", "password": secret}, REMOTE_ADDR="192.0.2.8")
    entry = failed()
    assert entry.detail == "username dana" and str(entry.source) == "192.0.2.8"
    assert entry.path == reverse("login") and entry.method == "POST"
    assert secret not in entry_text(entry)


def test_a_very_long_username_is_truncated_in_the_trail(client):
    client.post(reverse("login"), {"username": "x" * 140 + "tail", "password": "nope-nope-nope"})
    entry = failed()
    assert entry.detail == "username " + "x" * 64
    assert "tail" not in entry_text(entry)


def test_a_password_typed_into_the_username_field_is_not_kept_whole(client):
    long_password = "my-very-long-password-typed-in-the-wrong-field-by-mistake-0123456789"
    client.post(reverse("login"), {"username": long_password, "password": "x"})
    assert long_password not in entry_text(failed())


def test_the_admin_site_is_not_there(client):
    assert client.get("/admin/").status_code == 404


def test_the_admin_site_is_404_with_the_production_profile():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AGENTIAM_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "AGENTIAM_PROFILE": "production",
            "DJANGO_SECRET_KEY": "p" * 20 + "production-secret-key-for-the-admin-test-0123456789",
            "DJANGO_ALLOWED_HOSTS": "agentiam.example.com",
            "DATABASE_URL": "postgresql://agentiam@db.example.com:5432/agentiam",
            "REDIS_URL": "redis://cache.example.com:6379/0",
            "AGENTIAM_KEK": "dGVzdC1wcm9maWxlLWtlay1ub3QtZm9yLWFueS11c2U",
        }
    )
    # Resolving is what decides the 404; rendering the error page would need collected static files.
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.urls import Resolver404, resolve\n"
        "assert settings.PRODUCTION and 'django.contrib.admin' not in settings.INSTALLED_APPS\n"
        "for path in ('/admin/', '/admin/login/', '/admin/auth/user/'):\n"
        "    try:\n"
        "        resolve(path)\n"
        "    except Resolver404:\n"
        "        print(path, 404)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "agentiam.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/admin/", "404", "/admin/login/", "404", "/admin/auth/user/", "404"]
