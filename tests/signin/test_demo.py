"""The demo logins work with their second factor: seed_demo gives the persons whose role needs one an
authenticator, and `manage.py demo_totp USERNAME` prints its current code."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def demo_code(username: str) -> str:
    out = io.StringIO()
    call_command("demo_totp", username, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def test_seed_demo_gives_an_authenticator_to_exactly_the_people_whose_role_needs_one():
    printed = seed()
    owners = set(TOTPDevice.objects.filter(confirmed=True).values_list("user__username", flat=True))
    assert owners == {"admin", "manager", "director", "analyst"}
    assert "manage.py demo_totp USERNAME" in printed


def test_a_second_seed_never_replaces_an_authenticator():
    seed()
    keys = dict(TOTPDevice.objects.values_list("user__username", "key"))
    seed()
    assert dict(TOTPDevice.objects.values_list("user__username", "key")) == keys


def test_the_demo_administrator_signs_in_with_the_printed_code(client):
    seed()
    code = demo_code("admin")
    assert len(code) == 6 and code.isdigit()
    client.post(reverse("login"), {"username": "admin", "password": "agentiam-demo-2026"})
    response = client.post(reverse("second_factor_verify"), {"code": code, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_demo_totp_refuses_with_the_production_profile(settings):
    seed()
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        demo_code("admin")


def test_demo_totp_names_what_is_missing():
    UserFactory(username="plain")
    with pytest.raises(CommandError, match="no person called 'ghost'"):
        demo_code("ghost")
    with pytest.raises(CommandError, match="plain has no authenticator"):
        demo_code("plain")
