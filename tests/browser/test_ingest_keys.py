"""Ingest keys in a real browser: an administrator finds them from the gateways page, issues a key scoped to
one agent (shown once), sees it listed and revokes it through the confirm dialog — screenshots at 1440x900 and
390x844, no sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.events.conftest import estate  # noqa: F401  (the fixture)
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


def test_an_administrator_issues_and_revokes_an_ingest_key(live_server, page, estate):  # noqa: F811
    enter_as(page, live_server, estate.cast.administrator)
    page.goto(f"{live_server.url}/runtime/gateways/")
    page.get_by_role("link", name="Ingest keys").click()
    page.get_by_role("link", name="Issue ingest key").click()
    page.locator("#id_name").fill("otel-collector-prod")
    page.locator("#id_identities").fill(str(estate.agent.uuid))
    page.locator("#id_service_names").fill("triage-bot-svc")
    page.get_by_role("button", name="Issue ingest key").click()
    secret = page.locator("#ingest-key-secret")
    assert secret.input_value().startswith("aiamik_")
    shoot(page, "ingest_key_secret")
    page.get_by_role("link", name="Done").click()
    row = page.locator("#ingest-key-table tbody tr", has_text="otel-collector-prod")
    expect(row).to_contain_text("triage-bot")
    expect(row).to_contain_text("Live")
    shoot(page, "ingest_keys")
    row.get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Revoke").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#ingest-key-table tbody tr", has_text="otel-collector-prod")).to_contain_text("Revoked")
