"""Alerts in a real browser: a security analyst opens the widening chain's alert from the list, follows it to
the chain, comes back and suspends the agent from the alert (the registry's confirmation) — screenshots of the
list and the alert at 1440x900 and 390x844, no sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from audit.alerts.evaluate import evaluate_new_events
from identities.models import Identity
from tests.alerts.support import sensitive_secrets, widening_chain
from tests.conftest import ARTIFACTS
from tests.events.conftest import estate, keys  # noqa: F401  (the fixtures)
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_an_analyst_follows_the_widening_alert_to_its_chain_and_suspends_the_agent(live_server, page, estate, keys):  # noqa: F811
    sensitive_secrets()
    trace = widening_chain(estate, keys.all)
    evaluate_new_events()
    enter_as(page, live_server, estate.cast.security_analyst)
    page.goto(f"{live_server.url}/alerts/")
    expect(page.locator("#nav-count-alerts")).to_contain_text("2")
    shoot(page, "alerts_list")
    page.get_by_role("link", name="Widens from github.read_repo to vault.read_secret").click()
    expect(page.get_by_role("heading", name="Widens from github.read_repo to vault.read_secret")).to_be_visible()
    shoot(page, "alert_detail")
    page.get_by_role("link", name=trace).click()
    expect(page.get_by_role("heading", name=trace)).to_be_visible()
    page.go_back()
    page.get_by_role("link", name=f"Suspend {estate.agent.name}").click()
    page.get_by_label("Reason").fill("widened from a read into writing secrets")
    page.get_by_role("button", name="Suspend now").click()
    dialog = page.locator("dialog[open]")
    if dialog.count():  # the shared confirmation dialog
        dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text(f"{estate.agent.name} is suspended")).to_be_visible()
    assert Identity.objects.get(pk=estate.agent.pk).status == "suspended"
