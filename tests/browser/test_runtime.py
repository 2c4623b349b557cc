"""The runtime in a real browser: an administrator registers a gateway and copies its credential, an analyst
reads the decision log, filters it, opens a decision and follows a rule to its explanation — with no console
error or CSP violation (the `page` fixture fails on either) and screenshots of each screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from identities.runtime.models import Gateway
from tests.conftest import ARTIFACTS
from tests.runtime_support import access_token, build_estate, decide
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"runtime_{name}.png"), full_page=True)


def test_an_administrator_registers_a_gateway_and_sees_its_credential_once(live_server, page, cast):
    build_estate(cast)
    enter_as(page, live_server, cast.administrator)
    page.goto(live_server.url + "/")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Gateways").click()
    expect(page.get_by_role("heading", name="Gateways", level=1)).to_be_visible()
    expect(page.get_by_text("https://tools.example.com/mcp")).to_be_visible()
    shot(page, "gateways")
    page.get_by_role("link", name="Add gateway").click()
    page.get_by_label("Name").fill("edge-gateway")
    page.get_by_label("Audiences").fill("https://edge.example.com/mcp\nhttps://edge.example.com/api")
    page.get_by_role("button", name="Add gateway").click()
    credential = page.locator("#gateway-credential")
    expect(credential).to_be_visible()
    value = credential.input_value()
    assert value.startswith(f"aiamgw_{Gateway.objects.get(name='edge-gateway').prefix}_")
    shot(page, "gateway_credential")
    page.get_by_role("link", name="Done").click()
    expect(page.get_by_text("edge-gateway")).to_be_visible()
    assert value not in page.content()


def test_an_analyst_reads_filters_and_opens_decisions(live_server, page, cast):
    estate = build_estate(cast)
    token = access_token()["access_token"]
    decide(estate.credential, token)
    decide(estate.credential, token, resource={"repo": "other/secret-repo"})
    decide(estate.other_credential, token)
    enter_as(page, live_server, cast.security_analyst)
    page.goto(live_server.url + "/runtime/decisions/")
    rows = page.locator("#decision-table tbody tr")
    expect(rows).to_have_count(3)
    shot(page, "decision_log")
    page.locator("select#id_decision").select_option("deny")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(2)
    assert "decision=deny" in page.url
    shot(page, "decision_log_denied")
    page.locator("#decision-table tbody tr").first.locator("a").first.click()
    expect(page.get_by_role("heading", name="Why")).to_be_visible()
    shot(page, "decision_detail")
    page.locator(".checks a").first.click()
    expect(page.get_by_role("heading", name="What decisions cite")).to_be_visible()
    shot(page, "reasons")
