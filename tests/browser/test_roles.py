"""Every role signs in through the real form (with the second factor where its role requires one) and sees
exactly the navigation it may use: each link it is shown opens, and each page it is not shown refuses it —
with no console error or CSP violation (the `page` fixture fails on either) and a screenshot per role."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from agentiam.navigation import NAV
from agentiam.permissions import SECOND_FACTOR_REQUIRED, Role
from tests.cast import OUTSIDER, make_person
from tests.conftest import ARTIFACTS
from tests.support import sign_in, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "agentiam-demo-2026"


@pytest.mark.parametrize("role", [*(r.value for r in Role), OUTSIDER])
def test_each_role_signs_in_and_sees_only_the_navigation_it_may_use(live_server, page, role):
    roles = [] if role == OUTSIDER else [Role(role)]
    person = make_person(f"who-{role}", *roles, first_name="Robin", last_name=role.replace("_", " ").title())
    device = None
    if roles and Role(role) in SECOND_FACTOR_REQUIRED:
        device = TOTPDevice.objects.create(user=person, name="phone", confirmed=True)

    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if device is not None:
        expect(page).to_have_url(re.compile(r"/accounts/second-factor/"))
        page.get_by_label("Authentication code").fill(totp_code(device))
        page.get_by_role("button", name="Verify and continue").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator(".topbar").get_by_text("Robin")).to_be_visible()

    shown = {href for href in page.locator("nav.nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")}
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"roles_{role}.png"), full_page=True)

    # Hidden ⇔ forbidden: every navigation entry this person is shown opens for them, every other one refuses
    # — but for another tab of an area they are shown a way into, which opens from that page's own link.
    client = sign_in(Client(), person)
    every = {reverse(entry.url_name): entry for entry in NAV}
    assert shown <= set(every), f"unknown links in the navigation: {shown - set(every)}"
    for url, entry in sorted(every.items()):
        answer = client.get(url)
        if url in shown:
            assert answer.status_code == 200, f"{role} is shown {url} but it answers {answer.status_code}"
            continue
        ways_in = [other for other, e in every.items() if other in shown and entry.area and e.area == entry.area]
        if ways_in:
            assert answer.status_code == 200, (
                f"{role} reaches {url} from {ways_in[0]} but it answers {answer.status_code}"
            )
            assert f'href="{url}"' in client.get(ways_in[0]).content.decode(), f"{ways_in[0]} does not link to {url}"
        else:
            assert answer.status_code in (403, 404), f"{role} is not shown {url} but may open it ({answer.status_code})"
    if role == OUTSIDER:  # nothing but their own account
        assert all(url in (reverse("dashboard"), "/me/") or url.startswith("/accounts/") for url in shown), shown
