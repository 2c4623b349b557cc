"""The chain page in a real browser: a security analyst opens a trace's chain (steps nested under the agent's,
the denied and failing steps marked) — screenshots at 1440x900 and 390x844, no sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.events.conftest import estate, keys  # noqa: F401  (the fixtures)
from tests.events.test_chain_page import chain  # noqa: F401  (the fixture)
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def test_a_security_analyst_reads_a_chain(live_server, page, estate, chain):  # noqa: F811
    enter_as(page, live_server, estate.cast.security_analyst)
    page.goto(f"{live_server.url}/events/chains/{chain}/")
    expect(page.get_by_role("heading", name=chain)).to_be_visible()
    expect(page.locator(".chain-denied")).to_have_count(1)
    expect(page.locator(".chain-error")).to_have_count(1)
    expect(page.locator(".chain-level .chain-level .chain-step")).to_have_count(4)  # under invoke_agent
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"chain_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"the chain scrolls sideways at {width}"
