""" "My reviews" end to end in a real browser: the owner opens it from the navigation (its count), certifies one
item in place, revokes another with a reason (confirm dialog), accepts the remaining recommendations in bulk and
signs off; the decisions are recorded (who, bulk, time spent) and the revoke is handed to fulfilment. Screenshots
of the inbox before and after, at 1440x900 and 390x844, with no sideways scroll."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from reviews.models import ReviewerSignOff, ReviewItem
from tests.conftest import ARTIFACTS
from tests.factories import EntitlementFactory
from tests.reviews.attest_support import build_attest, make_item
from tests.reviews.conftest import estate  # noqa: F401  (the fixture)
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS_DIR") or ARTIFACTS / "screenshots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"my_reviews_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def confirm(page, button: str) -> None:
    page.locator("dialog").get_by_role("button", name=button).click()


def test_an_owner_certifies_one_revokes_one_accepts_the_rest_and_signs_off(live_server, page, estate):  # noqa: F811
    world = build_attest(estate)
    owner = world.owner
    extra = make_item(world.run, EntitlementFactory(identity=estate.agent, tool=estate.read, action="read",
                                                    granted_by=owner, scope={"repo": "acme/docs"}),
                      owner, recommendation="keep", reason="used yesterday, within acceptable use")  # fmt: skip
    enter_as(page, live_server, owner)
    page.goto(f"{live_server.url}/")
    entry = page.get_by_role("link", name="My reviews")
    expect(entry).to_contain_text("4")
    entry.click()
    expect(page.get_by_role("heading", name="My reviews")).to_be_visible()
    expect(page.locator("#review-progress")).to_contain_text("0 of 4")
    expect(page.get_by_text("Holds in total")).to_be_visible()
    shot(page, "1_open")

    # Certify the item without a recommendation, in place.
    none = page.locator(f"#item-{world.none.uuid.hex}")
    none.get_by_role("button", name="Certify").click()
    expect(none).to_contain_text("Certified")
    expect(page.locator("#review-progress")).to_contain_text("1 of 4")
    expect(page.locator("#nav-count-my-reviews")).to_contain_text("3")

    # Revoke the repository read with a reason (final: the dialog says so).
    keep = page.locator(f"#item-{world.keep.uuid.hex}")
    keep.get_by_placeholder("Comment").fill("It no longer triages the repositories")
    keep.get_by_role("button", name="Revoke").click()
    confirm(page, "Revoke")
    expect(keep).to_contain_text("Revoked")
    expect(page.locator("#review-progress")).to_contain_text("2 of 4")

    # Accept the remaining recommendations in bulk: the flagged write is revoked, the docs read certified.
    page.get_by_role("button", name="Accept all recommendations").click()
    confirm(page, "Accept all")
    expect(page.get_by_text("Accepted 2 recommendations: 1 certified, 1 revoked.")).to_be_visible()
    page.get_by_role("link", name="Decided").click()
    expect(page.locator("#review-progress")).to_contain_text("4 of 4")
    shot(page, "2_decided")

    page.get_by_role("button", name="Sign off").click()
    confirm(page, "Sign off")
    expect(page.get_by_text("Signed off 4 items")).to_be_visible()

    items = {item.pk: item for item in ReviewItem.objects.all()}
    assert items[world.none.pk].decision == "certify" and not items[world.none.pk].bulk
    assert items[world.none.pk].time_spent_ms is not None
    assert items[world.keep.pk].decision == "revoke" and items[world.keep.pk].comment.startswith("It no longer")
    assert items[world.keep.pk].fulfilment_status in ("pending", "done")
    assert items[world.revoke.pk].decision == "revoke" and items[world.revoke.pk].bulk
    assert items[extra.pk].decision == "certify" and items[extra.pk].bulk
    assert all(item.signed_off_at is not None for item in items.values())
    assert ReviewerSignOff.objects.get().items == 4
