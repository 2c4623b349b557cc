"""Sign-in journeys in a real browser: the demo administrator with their second factor, enrolment with the
QR page, the step-up page and the sign-in security page, with no console error or CSP violation (the
`page` fixture fails the test on either and saves a screenshot of the last state)."""

from __future__ import annotations

import io
import re
from base64 import b32decode

import pytest
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from agentiam.permissions import Role
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.support import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "agentiam-demo-2026"


def shot(page, name: str) -> None:
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path / f"signin_{name}.png"), full_page=True)


def password_step(page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_demo_administrator_signs_in_with_the_second_factor(live_server, page):
    call_command("seed_demo", stdout=io.StringIO())
    page.goto(live_server.url + "/")
    shot(page, "1_password")
    password_step(page, live_server.url, "admin")
    expect(page).to_have_url(re.compile(r"/accounts/second-factor/\?next=%2F$"))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    shot(page, "2_code")
    device = TOTPDevice.objects.get(user__username="admin")
    page.get_by_label("Authentication code").fill(totp_code(device))
    page.get_by_role("button", name="Verify and continue").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_text("Priya Raman").first).to_be_visible()


def test_an_administrator_without_an_authenticator_enrols_with_the_qr_page(live_server, page):
    make_person("ada", Role.ADMINISTRATOR, first_name="Ada", last_name="Byron")
    password_step(page, live_server.url, "ada")
    expect(page).to_have_url(re.compile(r"/accounts/second-factor/enrol/"))
    expect(page.locator("figure.qr svg")).to_be_visible()
    shot(page, "3_enrol")
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    key = b32decode(secret).hex()
    page.get_by_label("Authentication code").fill(totp_code(TOTPDevice(key=key)))
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page).to_have_url(live_server.url + "/")
    assert TOTPDevice.objects.get(user__username="ada").confirmed


def test_a_person_confirms_a_sensitive_action_and_sees_their_sign_in_activity(live_server, page):
    analyst = make_person("sana", Role.SECURITY_ANALYST, first_name="Sana", last_name="Okafor")
    device = TOTPDevice.objects.create(user=analyst, name="Authenticator app", confirmed=True)
    password_step(page, live_server.url, "sana")
    page.get_by_label("Authentication code").fill(totp_code(device))
    page.get_by_role("button", name="Verify and continue").click()
    expect(page).to_have_url(live_server.url + "/")
    page.goto(live_server.url + "/accounts/security/")
    expect(page.get_by_role("heading", name="Recent sign-in activity")).to_be_visible()
    expect(page.get_by_text("Code accepted")).to_be_visible()
    shot(page, "4_security")
    page.get_by_role("link", name="Replace authenticator…").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    shot(page, "5_step_up")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authentication code").fill(totp_code(device, steps_ahead=1))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Replace your authenticator?")).to_be_visible()
    shot(page, "6_confirm_removal")


def test_the_lockout_page_says_how_long_to_wait(live_server, context, settings):
    # The lockout answers 429, which Chromium reports on the console, so this test watches the console
    # itself and allows only that one line (any CSP violation or script error still fails).
    settings.AXES_FAILURE_LIMIT = 2
    make_person("erin")
    page = context.new_page()
    problems = []
    page.on(
        "console",
        lambda message: message.type == "error" and "429" not in message.text and problems.append(message.text),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(live_server.url + "/accounts/login/")
    for _ in range(2):
        page.get_by_label("Username").fill("erin")
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Sign-in paused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("15 minutes")
    shot(page, "7_lockout")
    assert problems == []
