"""The second factor: required for administrators, managers and security analysts, optional for the rest,
enrolled with a QR code, and nothing but the sign-in pages reachable until it is passed."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import Role
from audit.models import AuditEntry
from identities.signin import services
from identities.signin.forms import CODE_FORMAT
from identities.signin.middleware import SECOND_FACTOR_REQUIRED_DETAIL
from identities.signin.views import SESSION_ENROL_KEY
from tests.cast import make_person
from tests.support import sign_in, totp_code

pytestmark = pytest.mark.django_db
PASSWORD = "agentiam-demo-2026"


def password_sign_in(client: Client, username: str):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def with_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)


def test_an_administrator_signs_in_with_password_and_a_current_code(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    response = password_sign_in(client, "ada")
    assert response.status_code == 302 and response["Location"] == "/"
    held = client.get("/")
    assert held.status_code == 302 and held["Location"] == reverse("second_factor_verify") + "?next=%2F"
    page = client.get(held["Location"])
    assert page.status_code == 200 and b"Enter your code" in page.content
    done = client.post(reverse("second_factor_verify"), {"code": totp_code(device), "next": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert client.get("/").status_code == 200
    actions = list(AuditEntry.objects.filter(actor_id=admin.pk).order_by("id").values_list("action", flat=True))
    assert actions == ["auth.login", "auth.second_factor.verified"]


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SECURITY_ANALYST])
def test_managers_and_security_analysts_are_held_too(client, role):
    person = make_person("held", role)
    with_device(person)
    password_sign_in(client, "held")
    response = client.get(reverse("my_profile"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("second_factor_verify"))


def test_a_wrong_code_is_refused_naming_the_field_and_audited(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    password_sign_in(client, "ada")
    right = totp_code(device)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    response = client.post(reverse("second_factor_verify"), {"code": wrong})
    assert response.status_code == 400
    assert services.CODE_WRONG.encode() in response.content
    assert AuditEntry.objects.filter(action="auth.second_factor.failed", actor_id=admin.pk).count() == 1
    assert client.get("/").status_code == 302


def test_a_code_that_is_not_six_digits_is_refused_before_any_check(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    response = client.post(reverse("second_factor_verify"), {"code": "12ab"})
    assert response.status_code == 400 and CODE_FORMAT.encode() in response.content
    assert not AuditEntry.objects.filter(action="auth.second_factor.failed").exists()


def test_a_code_is_accepted_only_once(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    code = totp_code(device)
    password_sign_in(client, "ada")
    assert client.post(reverse("second_factor_verify"), {"code": code}).status_code == 302
    client.post(reverse("logout"))
    other = Client()
    password_sign_in(other, "ada")
    replay = other.post(reverse("second_factor_verify"), {"code": code})
    assert replay.status_code == 400


def test_a_person_without_such_a_role_or_a_device_needs_only_the_password(client):
    make_person("olive", Role.IDENTITY_OWNER)
    password_sign_in(client, "olive")
    assert client.get("/").status_code == 200


def test_a_person_who_enrolled_by_choice_is_asked_for_their_code(client):
    owner = make_person("olive", Role.IDENTITY_OWNER)
    with_device(owner)
    password_sign_in(client, "olive")
    assert client.get("/")["Location"].startswith(reverse("second_factor_verify"))


def test_only_the_sign_in_pages_are_reachable_while_the_code_is_owed(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    for url in ("/", reverse("people"), reverse("my_profile"), reverse("account_security"), reverse("step_up")):
        assert client.get(url).status_code == 302, url
    assert client.get(reverse("second_factor_verify")).status_code == 200
    assert client.get(reverse("healthz")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_an_api_call_with_a_half_signed_in_session_gets_json_403(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json() == {"error": "second_factor_required", "detail": SECOND_FACTOR_REQUIRED_DETAIL}


def test_a_bearer_header_on_a_page_does_not_slip_past_the_gate(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    response = client.get("/", HTTP_AUTHORIZATION="Bearer aiam_anything")
    assert response.status_code == 302 and response["Location"].startswith(reverse("second_factor_verify"))


def test_htmx_requests_are_sent_to_the_code_page_with_a_full_navigation(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    response = client.get(reverse("people"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/people/")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("second_factor_verify") + "?next=http%3A%2F%2Ftestserver%2Fpeople%2F"


def test_the_next_address_must_be_our_own(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    password_sign_in(client, "ada")
    response = client.post(reverse("second_factor_verify"), {"code": totp_code(device), "next": "https://evil.test/"})
    assert response.status_code == 302 and response["Location"] == "/"


# --- Enrolment -----------------------------------------------------------------------------------------


def enrol_key(client: Client) -> str:
    return client.session[SESSION_ENROL_KEY]


def code_for_key(key: str) -> str:
    return totp_code(TOTPDevice(key=key))


def test_an_administrator_without_a_device_must_enrol_before_anything_else(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    password_sign_in(client, "ada")
    held = client.get("/")
    assert held.status_code == 302 and held["Location"].startswith(reverse("second_factor_enrol"))
    page = client.get(held["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    # The QR code is inline SVG markup without any style attribute (the CSP allows no inline style).
    svg = re.search(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert svg is not None and "<path" in svg.group(0)
    assert "style=" not in html
    key = enrol_key(client)
    secret = TOTPDevice(key=key, user=admin).config_url.split("secret=")[1].split("&")[0]
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in html
    done = client.post(reverse("second_factor_enrol"), {"code": code_for_key(key), "next": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    device = TOTPDevice.objects.get(user=admin)
    assert device.confirmed and device.key == key
    assert client.get("/").status_code == 200
    entry = AuditEntry.objects.get(action="auth.second_factor.enrol")
    assert entry.actor_id == admin.pk and key not in str(entry.changes)


def test_enrolment_refuses_a_wrong_code_and_keeps_the_same_secret(client):
    make_person("ada", Role.ADMINISTRATOR)
    password_sign_in(client, "ada")
    client.get(reverse("second_factor_enrol"))
    key = enrol_key(client)
    right = code_for_key(key)
    response = client.post(reverse("second_factor_enrol"), {"code": f"{(int(right) + 3) % 1_000_000:06d}"})
    assert response.status_code == 400 and services.CODE_WRONG.encode() in response.content
    assert enrol_key(client) == key
    assert not TOTPDevice.objects.exists()


def test_a_person_with_a_device_cannot_enrol_another_one(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(admin)
    password_sign_in(client, "ada")
    response = client.get(reverse("second_factor_enrol"))
    assert response.status_code == 302 and response["Location"] == reverse("second_factor_verify")
    assert TOTPDevice.objects.filter(user=admin).count() == 1


def test_the_service_refuses_a_second_device(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    with pytest.raises(services.ValidationError) as refused:
        services.second_factor_enrol(user=admin, key=device.key, code=totp_code(device))
    assert refused.value.message_dict == {"code": [services.ENROL_ALREADY]}


def test_a_person_may_enrol_by_choice_from_their_security_page(client):
    owner = make_person("olive", Role.IDENTITY_OWNER)
    sign_in(client, owner)
    TOTPDevice.objects.filter(user=owner).delete()  # sign_in gave them one; start without
    page = client.get(reverse("account_security"))
    assert page.status_code == 200 and b"Set up authenticator" in page.content
    client.get(reverse("second_factor_enrol"))
    done = client.post(reverse("second_factor_enrol"), {"code": code_for_key(enrol_key(client))})
    assert done.status_code == 302 and done["Location"] == reverse("account_security")
    assert TOTPDevice.objects.filter(user=owner, confirmed=True).count() == 1


# --- Removal ---------------------------------------------------------------------------------------------


def test_removing_the_authenticator_needs_a_step_up_and_is_audited(client):
    owner = make_person("olive", Role.IDENTITY_OWNER)
    sign_in(client, owner)
    device = TOTPDevice.objects.get(user=owner)
    held = client.post(reverse("second_factor_remove"), HTTP_REFERER="http://testserver/accounts/security/")
    assert held.status_code == 302 and held["Location"].startswith(reverse("step_up"))
    client.post(reverse("step_up"), {"password": PASSWORD, "code": totp_code(device, steps_ahead=1)})
    confirm = client.get(reverse("second_factor_remove"))
    assert confirm.status_code == 200 and b"Remove your authenticator?" in confirm.content
    done = client.post(reverse("second_factor_remove"))
    assert done.status_code == 302 and done["Location"] == reverse("account_security")
    assert not TOTPDevice.objects.filter(user=owner).exists()
    entry = AuditEntry.objects.get(action="auth.second_factor.remove")
    assert entry.actor_id == owner.pk and entry.changes == {"devices": 1, "by_self": True}


def test_an_administrator_who_replaces_their_authenticator_must_enrol_again_at_once(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    device = TOTPDevice.objects.get(user=admin)
    client.post(reverse("step_up"), {"password": PASSWORD, "code": totp_code(device, steps_ahead=1)})
    done = client.post(reverse("second_factor_remove"))
    assert done["Location"] == reverse("second_factor_enrol")
    assert client.get("/")["Location"].startswith(reverse("second_factor_enrol"))


def test_only_the_person_or_an_administrator_may_remove_an_authenticator():
    owner = make_person("olive", Role.IDENTITY_OWNER)
    other = make_person("otto", Role.IDENTITY_OWNER)
    admin = make_person("ada", Role.ADMINISTRATOR)
    with_device(owner)
    with pytest.raises(services.PermissionDenied):
        services.second_factor_remove(actor=other, user=owner)
    assert services.second_factor_remove(actor=admin, user=owner) == 1
    assert AuditEntry.objects.get(action="auth.second_factor.remove").changes["by_self"] is False


def test_wrong_codes_slow_down_further_attempts(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    device = with_device(admin)
    password_sign_in(client, "ada")
    right = totp_code(device)
    client.post(reverse("second_factor_verify"), {"code": f"{(int(right) + 1) % 1_000_000:06d}"})
    # django-otp doubles the wait after each wrong code (1 s, 2 s, 4 s…); a right code inside it is refused.
    response = client.post(reverse("second_factor_verify"), {"code": right})
    assert response.status_code == 400
    assert services.CODE_THROTTLED.format(wait="1 second").encode() in response.content
    assert client.get("/").status_code == 302
