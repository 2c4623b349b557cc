"""An administrator completes a reviewer's reduce of privileged access in a real browser: from the home page's
"Waiting for you" to the completion page (what was decided and why), through the confirmation dialog; the
entitlement is replaced by the narrower one. Screenshots at 1440x900 and 390x844, with no sideways scroll."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reviews.models import ReviewItem
from reviews.services.attest import review_item_decide
from tests.conftest import ARTIFACTS
from tests.reviews.attest_support import build_attest
from tests.reviews.conftest import estate  # noqa: F401  (the fixture)
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS_DIR") or ARTIFACTS / "screenshots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"complete_reduce_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_an_administrator_completes_a_privileged_reduce_from_the_work_list(live_server, page, estate):  # noqa: F811
    world = build_attest(estate)
    item = review_item_decide(item=world.revoke, actor=world.owner, decision="reduce", scope={"repo": "acme/web"},
                              comment="only the web repository now")  # fmt: skip
    enter_as(page, live_server, estate.cast.administrator)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Reduced access to complete").click()
    expect(page.get_by_role("heading", name="Complete this reduce?")).to_be_visible()
    expect(page.locator("#complete-reduce")).to_contain_text("only the web repository now")
    shot(page, "1_form")
    page.get_by_role("button", name="Complete the reduce").click()
    page.locator("dialog[open]").get_by_role("button", name="Complete").click()
    expect(page.get_by_text("now holds github.create_pull_request write within the narrower scope")).to_be_visible()
    done = ReviewItem.objects.select_related("replacement").get(pk=item.pk)
    assert done.state == "fulfilled" and done.replacement.scope == {"repo": "acme/web"}
    page.goto(f"{live_server.url}/reviews/items/{item.uuid}/complete-reduce/")
    expect(page.locator("#completed-by")).to_contain_text("by")
    shot(page, "2_done")
