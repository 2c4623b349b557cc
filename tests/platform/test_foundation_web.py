import pytest
from django.urls import reverse

from agentiam.models import Heartbeat
from agentiam.permissions import Role
from tests.cast import make_person
from tests.factories import UserFactory
from tests.support import sign_in

pytestmark = pytest.mark.django_db


def test_root_redirects_an_anonymous_visitor_to_its_own_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_login_page_renders_with_a_strict_content_security_policy(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert b'name="htmx-config"' in response.content


def test_a_person_signs_in_and_sees_live_platform_status(client):
    # Platform status is for the roles that see everything (an outsider's dashboard leaves it out).
    make_person("dana", Role.AUDITOR)
    response = client.post(reverse("login"), {"username": "dana", "password": "agentiam-demo-2026"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b"PostgreSQL" in page.content
    assert b"never seen" in page.content  # no worker heartbeat has been recorded in this database


def test_dashboard_shows_the_recorded_worker_heartbeat(client, django_assert_max_num_queries):
    from django.utils import timezone

    Heartbeat.objects.create(component="worker", last_seen=timezone.now())
    sign_in(client, make_person("watcher", Role.AUDITOR))
    with django_assert_max_num_queries(13):  # the shell's 8, the registry panel's one, the insight's four
        page = client.get("/")
    assert b"alive" in page.content


def test_wrong_password_is_refused_without_revealing_which_part_was_wrong(client):
    UserFactory(username="erin")
    response = client.post(reverse("login"), {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_healthz_answers_json_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_logout_needs_a_post(client):
    client.force_login(UserFactory())
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/").status_code == 302


def test_htmx_client_sends_the_htmx_header(htmx_client):
    htmx_client.force_login(UserFactory())
    response = htmx_client.get("/")
    assert response.wsgi_request.htmx
