"""The session key changes each time the session gains a privilege: at password sign-in (Django's login),
when the second factor is verified (or first enrolled) and at every step-up. A key fixed or seen before
any of these is worth nothing afterwards."""

from __future__ import annotations

import time
from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import Role
from agentiam.stepup import SESSION_AT
from identities.signin.views import SESSION_ENROL_KEY
from tests.cast import make_person
from tests.support import sign_in, totp_code

pytestmark = pytest.mark.django_db
PASSWORD = "agentiam-demo-2026"


def key(client: Client) -> str:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else ""


def old_session_is_gone(old: str) -> bool:
    return not import_module(settings.SESSION_ENGINE).SessionStore().exists(old)


def test_verifying_the_second_factor_rotates_the_session_key(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = TOTPDevice.objects.create(user=admin, name="Phone", confirmed=True)
    client.post(reverse("login"), {"username": "ada", "password": PASSWORD})
    after_password = key(client)
    assert after_password
    done = client.post(reverse("second_factor_verify"), {"code": totp_code(device), "next": "/"})
    assert done.status_code == 302
    assert key(client) not in ("", after_password)
    assert old_session_is_gone(after_password)
    assert client.get("/").status_code == 200  # still signed in, second factor passed
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = after_password
    assert stale.get("/").status_code == 302  # the key seen before the factor opens nothing


def test_enrolling_the_first_authenticator_rotates_the_session_key(client):
    owner = make_person("olive", Role.IDENTITY_OWNER)
    client.post(reverse("login"), {"username": "olive", "password": PASSWORD})
    client.get(reverse("second_factor_enrol"))
    before = key(client)
    secret = client.session[SESSION_ENROL_KEY]
    totp = TOTP(bytes.fromhex(secret))
    totp.time = time.time()
    response = client.post(reverse("second_factor_enrol"), {"code": f"{totp.token():06d}"})
    assert response.status_code == 302 and TOTPDevice.objects.filter(user=owner, confirmed=True).exists()
    assert key(client) not in ("", before)


def test_a_step_up_rotates_the_session_key(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    device = TOTPDevice.objects.get(user=admin)
    client.get("/")
    before = key(client)
    response = client.post(
        reverse("step_up"), {"password": PASSWORD, "code": totp_code(device, steps_ahead=1), "next": "/people/"}
    )
    assert response.status_code == 302 and SESSION_AT in client.session
    assert key(client) not in ("", before)
    assert old_session_is_gone(before)
    assert client.get("/people/").status_code == 200
