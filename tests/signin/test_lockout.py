"""Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username from one
address, sign-in is paused there for the cool-off time, with a page that says so."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.cache import cache
from django.urls import reverse

from audit.models import AuditEntry, SecurityEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "agentiam-demo-2026"


def attempt(client, password: str, address: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": "erin", "password": password}, REMOTE_ADDR=address)


def test_sign_in_is_paused_after_the_failure_limit_even_with_the_right_password(client, settings):
    cache.clear()  # the security-event log's rate limit counts per source address in Redis
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="erin")
    assert [attempt(client, "wrong").status_code for _ in range(2)] == [200, 200]
    locked = attempt(client, "wrong")
    assert locked.status_code == 429
    assert b"Sign-in paused" in locked.content and b"15 minutes" in locked.content
    still = attempt(client, PASSWORD)
    assert still.status_code == 429
    assert client.get("/").status_code == 302  # not signed in
    events = SecurityEvent.objects.filter(source="10.0.0.1")
    assert events.filter(kind="auth.login.failed").count() == 4
    assert events.filter(kind="auth.lockout", detail="username erin").exists()
    assert events.filter(kind="auth.login.failed", detail="username erin (locked out)").exists()
    assert not AuditEntry.objects.filter(action__in=["auth.login.failed", "auth.lockout"]).exists()


def test_a_lockout_from_one_address_does_not_lock_the_person_out_elsewhere(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(username="erin")
    for _ in range(2):
        attempt(client, "wrong", address="10.0.0.1")
    assert attempt(client, PASSWORD, address="10.0.0.1").status_code == 429
    elsewhere = attempt(client, PASSWORD, address="10.9.9.9")
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/"


def test_a_successful_sign_in_clears_the_failures(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="erin")
    attempt(client, "wrong")
    attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    attempt(client, "wrong")
    attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302


def test_the_axes_system_checks_pass():
    found = [message for message in checks.run_checks() if message.id.startswith("axes")]
    assert found == []


def test_axes_sits_first_among_backends_and_last_among_middleware(settings):
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_HANDLER == "axes.handlers.database.AxesDatabaseHandler"
