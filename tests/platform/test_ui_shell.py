"""The UI shell: role-aware navigation, the person and their roles in the top bar, toasts from Django
messages (also through HX-Trigger for htmx), error pages, the strict CSP markup rules, the form renderer,
status badges, and a dashboard whose numbers are real and shown only to roles that may see them."""

from __future__ import annotations

import json
import re

import pytest
from django import forms
from django.contrib import messages
from django.db import connection, transaction
from django.http import HttpResponse
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import path

import agentiam.urls
from agentiam.models import Heartbeat
from agentiam.permissions import Role, public, roles_required
from agentiam.views import server_error
from audit.models import AuditEntry
from audit.trail import audit_record
from identities.models import PersonStatus, Profile
from tests.cast import make_person
from tests.support import sign_in

pytestmark = pytest.mark.django_db


# Views that add a message, for the toast tests.
@roles_required()
def say_saved(request):
    messages.success(request, "Saved the thing.")
    response = HttpResponse("<p>swapped</p>")
    if request.GET.get("redirect"):
        response["HX-Redirect"] = "/"
    if request.GET.get("trigger"):
        response["HX-Trigger"] = "refreshCounters"
    return response


@public
def form_page(request):
    class Sample(forms.Form):
        name = forms.CharField(max_length=5, help_text="Five letters at most.")

    form = Sample({"name": "much too long"})
    form.is_valid()
    return HttpResponse(Template("{{ form }}").render(Context({"form": form})))


urlpatterns = [
    path("test-say-saved/", say_saved),
    path("test-form/", form_page),
    *agentiam.urls.urlpatterns,
]
handler400, handler403 = agentiam.urls.handler400, agentiam.urls.handler403
handler404, handler500 = agentiam.urls.handler404, agentiam.urls.handler500


def nav_labels(response) -> dict[str, list[str]]:
    return {section["name"]: [e["label"] for e in section["entries"]] for section in response.context["nav_sections"]}


# --- Navigation and the top bar ---------------------------------------------------------------------------


def test_navigation_shows_each_role_only_the_entries_it_may_open(client, cast):
    sign_in(client, cast.outsider)
    outsider = nav_labels(client.get("/"))
    assert outsider["Overview"] == ["Dashboard"]
    assert "Governance" not in outsider and "Administration" not in outsider
    sign_in(client, cast.auditor)
    auditor = nav_labels(client.get("/"))
    assert "Audit trail" in auditor["Governance"] and "People" in auditor["Administration"]


def test_every_navigation_entry_a_person_sees_opens_for_them(cast, client_factory):
    for name, person in cast.members().items():
        client = client_factory(person)
        for section in client.get("/").context["nav_sections"]:
            for entry in section["entries"]:
                status = client.get(entry["url"]).status_code
                assert status == 200, f"{name} sees {entry['label']} but gets {status}"


def test_sections_come_in_a_fixed_order_with_account_last(client, cast):
    sign_in(client, cast.administrator)
    names = list(nav_labels(client.get("/")))
    assert names[0] == "Overview" and names[-1] == "Account"
    assert names.index("Governance") < names.index("Administration")


def test_the_current_page_and_its_detail_pages_mark_their_entry_active(client, cast):
    with transaction.atomic():
        entry = audit_record(actor=None, action="test.nav")
    sign_in(client, cast.auditor)
    for url in ("/audit/", f"/audit/{entry.uuid}/"):
        active = [e["label"] for s in client.get(url).context["nav_sections"] for e in s["entries"] if e["active"]]
        assert active == ["Audit trail"], url
    assert b'aria-current="page"' in client.get("/audit/").content


def test_the_top_bar_shows_the_person_and_their_role_badges(client):
    person = make_person("multi", Role.AUDITOR, Role.COMPLIANCE_OFFICER, first_name="Maya", last_name="Lind")
    sign_in(client, person)
    html = client.get("/").content.decode()
    topbar = html[html.index('<header class="topbar">') : html.index("</header>")]
    assert "Maya Lind" in topbar
    assert re.findall(r'badge badge-role">([^<]+)<', topbar) == ["Compliance officer", "Auditor"]


def test_a_person_without_a_role_sees_no_role_in_the_top_bar(client, cast):
    sign_in(client, cast.outsider)
    assert b'<span class="badge">No role</span>' in client.get("/").content


# --- Strict CSP markup -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/audit/", "/accounts/login/", "/no-such-page/"])
def test_pages_carry_no_inline_script_style_or_event_handler(client, cast, url):
    if url != "/accounts/login/":
        sign_in(client, cast.auditor)
    response = client.get(url)
    html = response.content.decode()
    assert all(' src="' in tag.split(">")[0] for tag in html.split("<script")[1:]), "an inline <script>"
    assert " style=" not in html and "<style" not in html
    assert "hx-on" not in html and not re.search(r"\son[a-z]+=", html)
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html


def test_the_shell_loads_its_scripts_and_has_the_loading_bar_dialog_and_toast_region(client, cast):
    sign_in(client, cast.auditor)
    html = client.get("/").content.decode()
    for needle in ('js/toasts.js" defer', 'js/confirm.js" defer', 'id="loading-bar"', '<dialog id="confirm-dialog"'):
        assert needle in html
    assert 'hx-indicator="#loading-bar"' in html and 'id="toasts"' in html


# --- Toasts -----------------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_messages_become_toasts_on_the_next_full_page(client, cast):
    sign_in(client, cast.auditor)
    client.get("/test-say-saved/")
    html = client.get("/").content.decode()
    assert 'class="toast toast-success" data-toast' in html and "Saved the thing." in html
    assert "Saved the thing." not in client.get("/").content.decode()  # shown once


@pytest.mark.urls(__name__)
def test_an_htmx_response_carries_its_messages_in_hx_trigger(htmx_client, cast):
    sign_in(htmx_client, cast.auditor)
    response = htmx_client.get("/test-say-saved/?trigger=1")
    trigger = json.loads(response["HX-Trigger"])
    assert trigger["toast"] == {"items": [{"level": "success", "message": "Saved the thing."}]}
    assert "refreshCounters" in trigger  # the view's own events are kept
    htmx_client.defaults.pop("HTTP_HX_REQUEST")
    assert "Saved the thing." not in htmx_client.get("/").content.decode()  # consumed, not shown twice


@pytest.mark.urls(__name__)
def test_an_htmx_redirect_leaves_the_messages_for_the_next_page(htmx_client, cast):
    sign_in(htmx_client, cast.auditor)
    response = htmx_client.get("/test-say-saved/?redirect=1")
    assert "HX-Trigger" not in response
    htmx_client.defaults.pop("HTTP_HX_REQUEST")
    assert "Saved the thing." in htmx_client.get("/").content.decode()


# --- Error pages ------------------------------------------------------------------------------------------


def test_a_wrong_role_gets_a_403_page_inside_the_shell(client, cast):
    sign_in(client, cast.identity_owner)
    response = client.get("/audit/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Access denied" in html and "Your role does not give access to this page." in html
    assert 'class="sidebar"' in html  # they can navigate on


def test_an_anonymous_404_is_a_standalone_page_with_a_sign_in_link(client):
    response = client.get("/nowhere/")
    html = response.content.decode()
    assert response.status_code == 404 and "Page not found" in html
    assert 'class="sidebar"' not in html and 'href="/accounts/login/"' in html


def test_the_500_page_renders_without_touching_the_database():
    request = RequestFactory().get("/somewhere/")
    with CaptureQueriesContext(connection) as queries:
        response = server_error(request)
    assert response.status_code == 500 and b"Something went wrong" in response.content
    assert len(queries) == 0


def test_a_bug_on_a_page_gets_the_500_page():
    from unittest import mock

    client = Client(raise_request_exception=False)
    with mock.patch("agentiam.views.system_status", side_effect=RuntimeError("boom")):
        person = make_person("crash", Role.AUDITOR)
        sign_in(client, person)
        response = client.get("/")
    assert response.status_code == 500 and b"Something went wrong" in response.content
    assert b"boom" not in response.content


# --- Forms and badges -------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_forms_render_each_error_beside_its_field(client):
    html = client.get("/test-form/").content.decode()
    assert 'class="field has-error required"' in html
    assert 'aria-invalid="true"' in html
    error = re.search(r'<span class="field-error" id="id_name_error">([^<]+)</span>', html)
    assert error and "at most 5 characters" in error.group(1)
    assert "Five letters at most." in html


def test_status_badges_use_one_colour_per_meaning():
    html = Template("{% load ui %}{% status_badge 'active' %}{% status_badge 'revoked' %}{% status_badge 'x' 'X' %}")
    rendered = html.render(Context())
    assert '<span class="badge badge-ok">Active</span>' in rendered
    assert '<span class="badge badge-danger">Revoked</span>' in rendered
    assert '<span class="badge badge-info">X</span>' in rendered


# --- Dashboard --------------------------------------------------------------------------------------------


def test_an_outsider_sees_no_platform_or_governance_numbers_only_what_to_do(client, cast):
    sign_in(client, cast.outsider)
    response = client.get("/")
    html = response.content.decode()
    assert response.context["status"] is None and response.context["panels"] == []
    assert "PostgreSQL" not in html and "You have no role yet" in html


def test_an_identity_owner_sees_neither_persons_nor_audit_numbers(client, cast):
    sign_in(client, cast.identity_owner)
    response = client.get("/")
    keys = {panel["key"] for panel in response.context["panels"]}
    assert not keys & {"persons", "audit"} and response.context["status"] is None
    assert keys == {"registry", "elevation"}  # their own identities' numbers only (registry, reviews.insight)
    assert "You have no role yet" not in response.content.decode()


def test_the_dashboard_numbers_are_real(client, cast):
    Profile.objects.filter(user=cast.outsider).update(status=PersonStatus.DISABLED)
    departed = make_person("gone-person")
    Profile.objects.filter(user=departed).update(status=PersonStatus.DEPARTED)
    with transaction.atomic():
        audit_record(actor=None, action="test.dashboard", object_label="Dashboard check")
    sign_in(client, cast.security_analyst)
    response = client.get("/")
    panels = {panel["key"]: panel for panel in response.context["panels"]}
    persons = panels["persons"]["persons"]
    expected = {
        status: Profile.objects.filter(status=status).count()
        for status in (PersonStatus.ACTIVE, PersonStatus.DISABLED, PersonStatus.DEPARTED)
    }
    assert {value: count for value, _label, count in persons.by_status} == expected
    assert persons.active == expected["active"] and persons.total == sum(expected.values())
    assert panels["audit"]["last_day"] == AuditEntry.objects.count()
    assert panels["audit"]["latest"][0].action in ("test.dashboard", "auth.login")
    assert "Dashboard check" in response.content.decode()


def test_the_dashboard_shows_the_recorded_worker_heartbeat_to_an_administrator(client, cast):
    from django.utils import timezone

    Heartbeat.objects.create(component="worker", last_seen=timezone.now())
    sign_in(client, cast.administrator)
    assert b"alive" in client.get("/").content


def test_the_dashboard_query_count_is_pinned(client, cast, django_assert_max_num_queries):
    sign_in(client, cast.administrator)
    client.get("/")
    # session, person, second-factor device, roles, heartbeat, identities by tier, persons by status, audit
    # count, latest entries, elevation insight (live access by mode, requests' ends and times, break-glass, the
    # per-call path), the approval-rule proposals waiting for this administrator (the navigation's count)
    with django_assert_max_num_queries(14):
        client.get("/")


def test_the_audit_count_on_the_dashboard_is_bounded_on_a_busy_trail(client, cast, monkeypatch):
    import audit.views

    monkeypatch.setattr(audit.views, "COUNT_CAP", 2)
    for n in range(3):
        with transaction.atomic():
            audit_record(actor=None, action=f"test.busy.{n}")
    sign_in(client, cast.auditor)
    response = client.get("/")
    audit_panel = next(panel for panel in response.context["panels"] if panel["key"] == "audit")
    assert audit_panel["last_day"] == 2 and audit_panel["last_day_capped"]
    assert '<span class="stat-value">2+</span>' in response.content.decode()
