"""The first journey in a real browser: sign in and land on the dashboard, with no console error or CSP
violation on the way (the `page` fixture fails the test on either)."""

import pytest
from playwright.sync_api import expect

from agentiam.permissions import Role
from tests.cast import make_person
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_person_signs_in_and_reaches_the_dashboard(live_server, page):
    # An auditor: no second factor to enter, and the platform status is theirs to see.
    make_person("auditor", Role.AUDITOR, first_name="Oliver", last_name="Grant")
    page.goto(live_server.url + "/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill("agentiam-demo-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator(".topbar-title")).to_have_text("Dashboard")
    expect(page.locator(".topbar .who")).to_have_text("Oliver Grant")
    expect(page.get_by_text("PostgreSQL", exact=False).first).to_be_visible()


def test_a_wrong_password_shows_an_error_and_stays_on_the_login_page(live_server, page):
    UserFactory(username="owner")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
