"""Step-up: sensitive actions need a fresh password (and code) check in a browser session; an API token is
never enough."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from agentiam.permissions import Role
from agentiam.stepup import (
    SESSION_AT,
    SESSION_USER,
    STEP_UP_API_DETAIL,
    is_stepped_up,
    step_up_required,
)
from audit.models import AuditEntry
from identities.services import api_token_create
from identities.signin import services
from tests.cast import make_person
from tests.support import sign_in, totp_code

pytestmark = pytest.mark.django_db
PASSWORD = "agentiam-demo-2026"


@step_up_required
def sensitive(request):
    return HttpResponse("done")


def session_request(rf: RequestFactory, client, user, **extra):
    """A RequestFactory request carrying the test client's session and user."""
    request = rf.post("/sensitive/", **extra)
    request.session = client.session
    request.user = user
    return request


def stepped_up_client(client, user):
    session = client.session
    session[SESSION_AT] = int(time.time())
    session[SESSION_USER] = user.pk
    session.save()
    return client


# --- The decorator -----------------------------------------------------------------------------------


def test_a_browser_request_without_a_step_up_is_sent_to_the_step_up_page(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    request = session_request(RequestFactory(), client, admin, HTTP_REFERER="http://testserver/people/")
    response = sensitive(request)
    assert response.status_code == 302
    assert response["Location"] == reverse("step_up") + "?next=http%3A%2F%2Ftestserver%2Fpeople%2F"


def test_a_fresh_step_up_lets_the_action_through(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    stepped_up_client(sign_in(client, admin), admin)
    response = sensitive(session_request(RequestFactory(), client, admin))
    assert response.status_code == 200 and response.content == b"done"


def test_a_step_up_expires_after_its_maximum_age(client, settings):
    settings.STEP_UP_MAX_AGE = 300
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    session = client.session
    session[SESSION_AT] = int(time.time()) - 301
    session[SESSION_USER] = admin.pk
    session.save()
    assert not is_stepped_up(session_request(RequestFactory(), client, admin))


def test_a_step_up_belongs_to_the_person_who_gave_it(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    other = make_person("otto", Role.ADMINISTRATOR)
    stepped_up_client(sign_in(client, admin), admin)
    assert not is_stepped_up(session_request(RequestFactory(), client, other))


def test_a_bearer_token_request_is_refused_with_json_even_when_the_session_is_stepped_up(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    stepped_up_client(sign_in(client, admin), admin)
    request = session_request(RequestFactory(), client, admin, HTTP_AUTHORIZATION="Bearer aiam_x")
    response = sensitive(request)
    assert response.status_code == 403
    assert json.loads(response.content) == {"error": "step_up_required", "detail": STEP_UP_API_DETAIL, "fields": {}}


def test_a_drf_request_authenticated_by_a_token_is_never_stepped_up(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    stepped_up_client(sign_in(client, admin), admin)
    request = session_request(RequestFactory(), client, admin)
    request.auth = object()  # what DRF sets for token authentication
    assert not is_stepped_up(request)


def test_a_real_api_token_cannot_grant_a_role(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    target = make_person("otto")
    _, raw = api_token_create(actor=admin, name="ci", expires_in_days=1)
    response = client.post(
        f"/api/v1/people/{target.profile.uuid}/roles/",
        {"role": "auditor"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403 and response.json()["error"] == "step_up_required"
    assert not target.groups.exists()


def test_an_htmx_request_is_told_to_navigate_to_the_step_up_page(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    request = session_request(
        RequestFactory(), client, admin, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/people/"
    )
    response = sensitive(request)
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("step_up") + "?next=http%3A%2F%2Ftestserver%2Fpeople%2F"


# --- The step-up page -----------------------------------------------------------------------------------


def test_the_step_up_page_asks_for_the_password_and_a_code_and_records_the_step_up(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    device = TOTPDevice.objects.get(user=admin)
    page = client.get(reverse("step_up") + "?next=/people/")
    assert page.status_code == 200
    assert b'name="password"' in page.content and b'name="code"' in page.content
    response = client.post(
        reverse("step_up"), {"password": PASSWORD, "code": totp_code(device, steps_ahead=1), "next": "/people/"}
    )
    assert response.status_code == 302 and response["Location"] == "/people/"
    assert client.session[SESSION_USER] == admin.pk
    assert abs(client.session[SESSION_AT] - time.time()) < 5
    entry = AuditEntry.objects.get(action="auth.step_up")
    assert entry.actor_id == admin.pk and entry.changes == {"second_factor": True}


def test_a_person_without_an_authenticator_steps_up_with_the_password(client):
    owner = make_person("olive", Role.IDENTITY_OWNER)
    sign_in(client, owner)
    TOTPDevice.objects.filter(user=owner).delete()
    page = client.get(reverse("step_up"))
    assert b'name="code"' not in page.content
    assert client.post(reverse("step_up"), {"password": PASSWORD}).status_code == 302
    assert AuditEntry.objects.get(action="auth.step_up").changes == {"second_factor": False}


def test_a_wrong_password_is_refused_naming_the_field_and_audited(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    device = TOTPDevice.objects.get(user=admin)
    response = client.post(reverse("step_up"), {"password": "wrong", "code": totp_code(device, steps_ahead=1)})
    assert response.status_code == 400 and services.PASSWORD_WRONG.encode() in response.content
    assert SESSION_AT not in client.session
    assert AuditEntry.objects.get(action="auth.step_up.failed").changes == {"field": "password"}
    # The code was not spent on a failed password.
    device.refresh_from_db()
    assert device.last_t == -1


def test_a_missing_code_is_refused_for_a_person_with_an_authenticator(client):
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    response = client.post(reverse("step_up"), {"password": PASSWORD})
    assert response.status_code == 400 and b"Enter the 6 digits" in response.content
    assert SESSION_AT not in client.session


def test_repeated_failures_sign_the_person_out(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    admin = make_person("ada", Role.ADMINISTRATOR)
    sign_in(client, admin)
    for _ in range(2):
        assert client.post(reverse("step_up"), {"password": "wrong", "code": "000000"}).status_code == 400
    response = client.post(reverse("step_up"), {"password": "wrong", "code": "000000"})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session
    assert AuditEntry.objects.get(action="auth.logout").changes == {"reason": "step_up_failures"}


def test_a_person_without_a_password_cannot_step_up(client):
    person = make_person("sso-only")
    person.set_unusable_password()
    person.save()
    sign_in(client, person)
    response = client.post(reverse("step_up"), {"password": "anything", "code": "123456"})
    assert response.status_code == 400 and b"has no password" in response.content


def test_the_step_up_page_needs_a_signed_in_person(client):
    response = client.get(reverse("step_up"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
