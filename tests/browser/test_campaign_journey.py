"""Issue 11's acceptance journey in a real browser, with a real Celery worker (no task run in this process): a
compliance officer defines a campaign and launches it, and watches the progress bar until the worker has created
the items; the owner opens "My reviews" from the navigation, certifies one item, revokes another with a reason,
accepts the remaining recommendations in bulk and signs off; the worker fulfils the revokes; the compliance
officer signs the run off after stepping up (password and code, as the app asks); the revoked entitlement is
revoked in the database and shown so on the identity page, and its credential's revocation is requested.
Screenshots at 1440x900 and 390x844, with no sideways scroll."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from identities.models import Credential, Entitlement
from reviews.models import CampaignRun, ReviewItem
from tests.conftest import ARTIFACTS
from tests.factories import CredentialFactory
from tests.reviews.campaign_estate import estate as estate  # the fixture
from tests.support import child_env, enter_as, start_worker, totp_code, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS_DIR") or ARTIFACTS / "screenshots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"campaign_journey_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def confirm(page, button: str) -> None:
    page.locator("dialog[open]").get_by_role("button", name=button).click()


@pytest.fixture
def worker(tmp_path):
    """A real Celery worker on the test database and Redis, started when the test asks for it."""
    started = []

    def start():
        started.append(start_worker(child_env(), tmp_path / "worker.log"))

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_campaign_from_definition_to_sign_off_revokes_the_entitlement_and_its_credential(
    live_server, page, cast, estate, worker
):
    agents, ents = estate
    credential = CredentialFactory(holders=[agents["idle"]], entitlements=[ents["idle"]], name="idle-agent jira key")

    # The compliance officer defines the campaign and launches it; the worker is not up yet, so the run waits.
    officer = cast.compliance_officer
    enter_as(page, live_server, officer)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Agents, Q1")
    page.get_by_label("Agent", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved. Check the preview, then launch.")).to_be_visible()
    page.get_by_role("button", name="Launch now").click()
    expect(page.get_by_text("Run 1 is launching")).to_be_visible()
    progress = page.locator("progress").first
    expect(progress).to_have_attribute("value", "0")
    shot(page, "1_launching")
    # The worker starts and takes the launch from the queue; the page's poll shows it done.
    worker()
    expect(page.get_by_text("4 items · due")).to_be_visible(timeout=60_000)
    expect(progress).to_have_attribute("value", "100")
    run = CampaignRun.objects.get()
    assert run.state == "open" and ReviewItem.objects.filter(run=run).count() == 4
    shot(page, "2_open")

    # The owner: My reviews from the navigation, its count.
    owner = cast.identity_owner
    items = {name: ReviewItem.objects.get(run=run, identity=agent) for name, agent in agents.items()}
    assert {name: item.recommendation for name, item in items.items()} == {
        "used": "keep", "idle": "revoke", "dark": "none", "outside": "revoke",
    }  # fmt: skip
    enter_as(page, live_server, owner)
    page.goto(f"{live_server.url}/")
    entry = page.get_by_role("link", name="My reviews")
    expect(entry).to_contain_text("4")
    entry.click()
    expect(page.locator("#review-progress")).to_contain_text("0 of 4")
    shot(page, "3_my_reviews")

    dark = page.locator(f"#item-{items['dark'].uuid.hex}")  # no usage data, no recommendation: certified
    expect(dark).to_contain_text("No usage data")
    dark.get_by_role("button", name="Certify").click()
    expect(dark).to_contain_text("Certified")
    idle = page.locator(f"#item-{items['idle'].uuid.hex}")  # unused: revoked with a reason
    idle.locator(".review-comment").fill("Idle since the Jira migration")
    idle.get_by_role("button", name="Revoke").click()
    confirm(page, "Revoke")
    expect(idle).to_contain_text("Revoked")
    expect(page.locator("#review-progress")).to_contain_text("2 of 4")
    page.get_by_role("button", name="Accept all recommendations").click()
    confirm(page, "Accept all")
    expect(page.get_by_text("Accepted 2 recommendations: 1 certified, 1 revoked.")).to_be_visible()
    shot(page, "4_decided")
    page.get_by_role("button", name="Sign off").click()
    confirm(page, "Sign off")
    expect(page.get_by_text("Signed off 4 items")).to_be_visible()

    # The worker fulfils both revokes (outbox rows written with the decisions, handed over on commit).
    wait_until(lambda: ReviewItem.objects.filter(run=run, fulfilment_status="done").count() == 2, timeout=60,
               what="the worker's fulfilment of the two revokes")  # fmt: skip

    # The compliance officer signs the run off: the app asks for a step-up first.
    enter_as(page, live_server, officer)
    page.goto(f"{live_server.url}/reviews/campaigns/runs/{run.uuid}/dashboard/")
    expect(page.locator("#stat-overdue")).to_have_text("0")
    shot(page, "5_dashboard")
    page.locator("#sign-off-link").click()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    page.get_by_label("Password").fill(settings.AGENTIAM_DEMO_PASSWORD)
    page.get_by_label("Authentication code").fill(totp_code(officer.totpdevice_set.get(confirmed=True)))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Note for the record").fill("Q1 agent access certified.")
    page.get_by_role("button", name="Sign off").click()
    confirm(page, "Sign off")
    expect(page.locator("#run-state")).to_have_text("Closed")
    run.refresh_from_db()
    assert run.state == "closed" and run.signed_off_by == officer and run.report_digest

    # Gone: the entitlement revoked on the review's authority, its credential's revocation requested.
    idle_ent = Entitlement.objects.get(pk=ents["idle"].pk)
    assert idle_ent.revoked_at is not None and "Idle since the Jira migration" in idle_ent.revoke_reason
    assert Entitlement.objects.get(pk=ents["outside"].pk).revoked_at is not None
    assert Entitlement.objects.get(pk=ents["used"].pk).revoked_at is None
    assert Credential.objects.get(pk=credential.pk).revocation_status == "requested"
    page.goto(f"{live_server.url}/identities/{agents['idle'].uuid}/")
    expect(page.locator("#entitlements")).to_contain_text("Revoked")
    expect(page.locator("#credentials")).to_contain_text("idle-agent jira key")
    expect(page.locator("#credentials")).not_to_contain_text("In use")
    shot(page, "6_identity")
