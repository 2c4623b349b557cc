"""Idle and absolute session timeouts: the person is signed out, told why, and sent to sign in again."""

from __future__ import annotations

import time

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audit.models import AuditEntry
from identities.signin.middleware import (
    ACTIVITY_RESOLUTION,
    SESSION_LAST_ACTIVITY,
    SESSION_SIGNED_IN_AT,
    SIGNED_OUT_ABSOLUTE,
    SIGNED_OUT_IDLE,
)
from tests.factories import UserFactory
from tests.support import sign_in

pytestmark = pytest.mark.django_db


def set_clock(client, **values):
    session = client.session
    for key, value in values.items():
        session[key] = value
    session.save()


def test_a_person_idle_longer_than_the_idle_timeout_is_signed_out_with_a_message(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    person = UserFactory()
    sign_in(client, person)
    set_clock(client, **{SESSION_LAST_ACTIVITY: int(time.time()) - 30 * 60 - 5})
    response = client.get(reverse("my_profile"))
    assert response.status_code == 302 and response["Location"] == reverse("login") + "?next=%2Fme%2F"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [SIGNED_OUT_IDLE.format(minutes=30)]
    assert client.get("/").status_code == 302
    entry = AuditEntry.objects.get(action="auth.logout")
    assert entry.actor_id == person.pk and entry.changes == {"reason": "timeout_idle"}
    login_page = client.get(response["Location"])
    assert SIGNED_OUT_IDLE.format(minutes=30).encode() in login_page.content


def test_a_person_active_within_the_idle_timeout_stays_signed_in(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 30 * 60
    sign_in(client, UserFactory())
    set_clock(client, **{SESSION_LAST_ACTIVITY: int(time.time()) - 29 * 60})
    assert client.get("/").status_code == 200


def test_a_sign_in_older_than_the_absolute_timeout_ends_however_active(client, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT = 8 * 3600
    sign_in(client, UserFactory())
    now = int(time.time())
    set_clock(client, **{SESSION_SIGNED_IN_AT: now - 8 * 3600 - 1, SESSION_LAST_ACTIVITY: now})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert [str(m) for m in get_messages(response.wsgi_request)] == [SIGNED_OUT_ABSOLUTE.format(hours="8")]
    assert AuditEntry.objects.get(action="auth.logout").changes == {"reason": "timeout_absolute"}


def test_activity_is_written_at_most_once_a_minute(client):
    sign_in(client, UserFactory())
    recent = int(time.time()) - 10
    set_clock(client, **{SESSION_LAST_ACTIVITY: recent})
    client.get("/")
    assert client.session[SESSION_LAST_ACTIVITY] == recent
    older = int(time.time()) - ACTIVITY_RESOLUTION - 1
    set_clock(client, **{SESSION_LAST_ACTIVITY: older})
    client.get("/")
    assert client.session[SESSION_LAST_ACTIVITY] >= int(time.time()) - 2


def test_signing_in_starts_both_clocks(client):
    before = int(time.time())
    sign_in(client, UserFactory())
    assert client.session[SESSION_SIGNED_IN_AT] >= before
    assert client.session[SESSION_LAST_ACTIVITY] >= before


def test_an_htmx_request_after_the_timeout_navigates_to_the_sign_in_page(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    sign_in(client, UserFactory())
    set_clock(client, **{SESSION_LAST_ACTIVITY: int(time.time()) - 120})
    response = client.get(reverse("my_profile"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/me/")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("login") + "?next=")


def test_an_api_call_after_the_timeout_is_answered_as_anonymous(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    sign_in(client, UserFactory())
    set_clock(client, **{SESSION_LAST_ACTIVITY: int(time.time()) - 120})
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
