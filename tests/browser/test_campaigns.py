"""Review campaigns in a real browser: a compliance officer defines a campaign (a bad cron is marked beside its
field, nothing saved), reads the preview, launches it and watches the progress bar fill as the items are created
(htmx polls the run) — screenshots at 1440x900 and 390x844 with no sideways scroll."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from reviews import tasks
from reviews.models import Campaign, CampaignRun, ReviewItem
from tests.conftest import ARTIFACTS
from tests.reviews.campaign_estate import estate as estate  # the fixture
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"campaigns_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_a_compliance_officer_defines_previews_and_launches_a_campaign(
    live_server, page, cast, estate, expect_form_errors
):
    enter_as(page, live_server, cast.compliance_officer)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Agents, quarterly")
    page.get_by_label("Agent", exact=True).check()
    page.get_by_label("On a schedule (cron)").check()
    page.get_by_role("textbox", name="Cron").fill("0 6 1 */3")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Give five cron fields")).to_be_visible()
    assert not Campaign.objects.exists()
    shot(page, "1_form_error")
    page.get_by_role("textbox", name="Cron").fill("0 6 1 */3 *")
    page.get_by_label("Timezone").fill("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved. Check the preview, then launch.")).to_be_visible()
    expect(page.get_by_role("heading", name="Heaviest reviewers")).to_be_visible()
    shot(page, "2_preview")

    page.get_by_role("button", name="Launch now").click()
    expect(page.get_by_text("Run 1 is launching")).to_be_visible()
    expect(page.get_by_text("Fixing the set in scope")).to_be_visible()
    shot(page, "3_launching")
    run = CampaignRun.objects.get()
    tasks.launch_campaign_run(str(run.uuid))  # the worker's job, in this process
    expect(page.get_by_text("4 items · due")).to_be_visible(timeout=10_000)  # the poll brought it
    assert page.locator("progress").first.get_attribute("value") == "100"
    assert ReviewItem.objects.filter(run=run).count() == 4
    shot(page, "4_open")
    page.get_by_role("link", name="Review campaigns").click()
    expect(page.get_by_role("link", name="Agents, quarterly")).to_be_visible()
    shot(page, "5_list")
