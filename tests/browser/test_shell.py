"""The shell in a real browser: sign in, see one's navigation, read and filter the audit trail through htmx,
open an entry, read the API docs, confirm a destructive action in a dialog, see toasts — with no console
error or CSP violation anywhere (the `page` fixture fails on either) and screenshots of each screen."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import transaction
from playwright.sync_api import expect

from agentiam.permissions import Role
from audit.trail import audit_record
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = ARTIFACTS / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"shell_{name}.png"), full_page=True)


def some_history() -> None:
    """A few realistic entries: who did what to whom."""
    events = [
        ("priya", "role.grant", "Oliver Grant", {"role": "identity_owner"}),
        ("priya", "person.update", "Oliver Grant", {"job_title": ["Engineer", "Staff engineer"]}),
        ("system", "api_token.revoke", "API token aiam_3f1c of Mia Chen", {"reason": "expired"}),
        ("priya", "role.revoke", "Mia Chen", {"role": "manager"}),
        ("sam", "person.disable", "Mia Chen", {"status": ["active", "disabled"], "reason": "left the company"}),
    ]
    for n, (actor, action, label, changes) in enumerate(events):
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=action,
                object_type="identities.profile",
                object_id=f"7c0e-{n}",
                object_label=label,
                changes=changes,
            )


def test_an_auditor_signs_in_sees_their_navigation_and_filters_the_audit_trail(live_server, page):
    some_history()
    make_person("avery", Role.AUDITOR, first_name="Avery", last_name="Stone")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("avery")
    page.get_by_label("Password").fill(settings.AGENTIAM_DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".topbar .who")).to_have_text("Avery Stone")
    expect(page.locator(".topbar .badge-role")).to_have_text(["Auditor"])
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit trail")).to_be_visible()
    expect(nav.get_by_role("link", name="People")).to_be_visible()
    shot(page, "dashboard_auditor")

    nav.get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    expect(page.locator("#audit-table tbody tr")).to_have_count(6)  # five events and this sign-in
    # The screenshot puts style attributes on the inputs, as browser extensions do: htmx must not copy them
    # onto the swapped-in inputs (a CSP violation), which the htmx config's attributesToSettle prevents.
    shot(page, "audit_all")
    page.evaluate("window.__sameDocument = true")

    page.get_by_label("Action").fill("role.")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"action=role\."))
    expect(page.locator("#audit-table tbody tr")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the table, no page load

    page.get_by_role("link", name="Action").click()  # sort by action, ascending
    expect(page).to_have_url(re.compile(r"sort=action"))
    expect(page.locator("#audit-table tbody tr .badge-action")).to_have_text(["role.grant", "role.revoke"])
    shot(page, "audit_filtered")

    page.get_by_role("link", name="role.revoke").click()
    expect(page.get_by_text("Hash matches")).to_be_visible()
    expect(page.get_by_text("Chain intact")).to_be_visible()
    expect(page.locator("pre.code")).to_contain_text('"role": "manager"')
    expect(nav.get_by_role("link", name="Audit trail")).to_have_attribute("aria-current", "page")
    shot(page, "audit_entry")


def test_an_administrator_sees_the_whole_trail_at_laptop_size(live_server, page):
    some_history()
    page.set_viewport_size({"width": 1366, "height": 768})
    enter_as(page, live_server, make_person("priya", Role.ADMINISTRATOR, first_name="Priya", last_name="Raman"))
    page.goto(live_server.url + "/audit/")
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    sections = nav.locator(".nav-section").evaluate_all("found => found.map(section => section.textContent.trim())")
    assert sections[0] == "Overview" and sections[-1] == "Account"
    assert sections.index("Governance") < sections.index("Administration")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    shot(page, "audit_laptop")
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Persons")).to_be_visible()
    shot(page, "dashboard_admin_laptop")


def test_the_shell_is_not_broken_on_a_narrow_screen(live_server, page):
    some_history()
    page.set_viewport_size({"width": 390, "height": 844})
    enter_as(page, live_server, make_person("sam", Role.SECURITY_ANALYST, first_name="Sam", last_name="Okafor"))
    for url, name in (("/", "dashboard_narrow"), ("/audit/", "audit_narrow")):
        page.goto(live_server.url + url)
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        # Only the table may scroll sideways (inside its own box), never the page.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), url
        shot(page, name)


def test_the_api_docs_render_offline_with_no_csp_violation(live_server, page):
    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("AgentIAM API")
    # The operations list is virtualised (only those in view are rendered): filter by tag to reach one.
    page.locator(".swagger-ui .operation-filter-input").fill("audit")
    operation = page.locator(".opblock-get").filter(
        has=page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/audit/entries/$"))
    )
    expect(operation).to_have_count(1)
    operation.locator(".opblock-summary").click()  # expand it: its parameters render from the offline schema
    expect(operation.locator(".parameters").get_by_text("cursor", exact=True)).to_be_visible()
    shot(page, "api_docs")


def test_a_destructive_action_waits_for_confirmation_in_a_dialog(live_server, page):
    enter_as(page, live_server, make_person("ada", Role.AUDITOR, first_name="Ada", last_name="Byrne"))
    page.goto(live_server.url + "/")
    # Any form with data-confirm is guarded; signing out stands in for a destructive action here.
    page.evaluate(
        """() => {
        const form = document.querySelector('.topbar-user form');
        form.dataset.confirm = 'You will have to sign in again.';
        form.dataset.confirmTitle = 'Sign out now?';
        form.dataset.confirmButton = 'Sign out';
    }"""
    )
    page.locator(".topbar-user").get_by_role("button", name="Sign out").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Sign out now?")
    shot(page, "confirm_dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live_server.url + "/")
    page.locator(".topbar-user").get_by_role("button", name="Sign out").click()
    dialog.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_toasts_appear_for_htmx_events_and_can_be_dismissed(live_server, page):
    enter_as(page, live_server, make_person("lee", Role.AUDITOR))
    page.goto(live_server.url + "/")
    page.evaluate(
        """() => document.body.dispatchEvent(new CustomEvent('toast', {bubbles: true, detail: {items: [
            {level: 'success', message: 'Token revoked.'},
            {level: 'error', message: 'Could not reach the gateway.'},
        ]}}))"""
    )
    expect(page.locator(".toast-success")).to_have_text(re.compile("Token revoked."))
    error = page.locator(".toast-error")
    expect(error).to_be_visible()
    shot(page, "toasts")
    error.get_by_role("button", name="Dismiss").click()
    expect(error).to_have_count(0)
    expect(page.locator(".toast-success")).to_have_count(0, timeout=9000)  # successes fade on their own
