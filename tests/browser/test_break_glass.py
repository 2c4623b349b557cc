"""Break-glass in a real browser: the owner opens it from the identity page, steps up, confirms, and lands on
the review; a security analyst closes the review; a manager closes one from the break-glass review list —
screenshots at 1440x900 and 390x844."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reviews.models import BreakGlass
from reviews.services.breakglass import break_glass_close, break_glass_start
from tests.conftest import ARTIFACTS
from tests.factories import BreakGlassFactory, IdentityFactory
from tests.reviews.conftest import estate  # noqa: F401  (the fixture)
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"break_glass_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_an_owner_breaks_the_glass_and_a_security_analyst_closes_the_review(live_server, page, estate):  # noqa: F811
    owner = estate.cast.identity_owner
    enter_as(page, live_server, owner, step_up=True)
    page.goto(f"{live_server.url}/identities/{estate.agent.uuid}/")
    page.get_by_role("link", name="Break the glass…").click()
    expect(page.get_by_role("heading", name=f"Break-glass on {estate.agent.name}")).to_be_visible()
    page.get_by_label("Scopes").fill("github.create_pull_request:write")
    page.get_by_label("Task").fill("INC-1")
    page.get_by_label("Reason").fill("Production is down and the approver is asleep")
    shot(page, "1_start")
    page.get_by_role("button", name="Break the glass").click()
    page.locator("dialog").get_by_role("button", name="Break the glass").click()
    expect(page.get_by_text("Break-glass access granted")).to_be_visible()
    expect(page.locator("#close-refusal")).to_have_text("Nobody closes the review of their own break-glass.")
    shot(page, "2_review_owner")
    row = BreakGlass.objects.get()
    enter_as(page, live_server, estate.cast.security_analyst)
    page.goto(f"{live_server.url}/reviews/break-glass/{row.uuid}/")
    page.get_by_label("What you found").fill("Justified: outage INC-1, access ended with the task")
    page.get_by_role("button", name="Close review").click()
    page.locator("dialog").get_by_role("button", name="Close review").click()
    expect(page.get_by_text("Break-glass review closed.")).to_be_visible()
    shot(page, "3_closed")
    row.refresh_from_db()
    assert row.closed_by == estate.cast.security_analyst


def test_a_manager_closes_a_review_from_the_break_glass_list(live_server, page, estate):  # noqa: F811
    owner, now = estate.cast.identity_owner, timezone.now()
    open_one = break_glass_start(identity=estate.agent, actor=owner, task="INC-2", reason="Database failover stuck",
                                 scopes=["github.create_pull_request:write"])  # fmt: skip
    day_ago = {"grant__starts_at": now - timedelta(hours=26), "grant__ends_at": now - timedelta(hours=25)}
    BreakGlassFactory(identity=IdentityFactory(owner=owner, name="deploy-bot"), person=owner, reason="Hotfix",
                      **day_ago)  # fmt: skip
    done = BreakGlassFactory(identity=IdentityFactory(owner=owner, name="report-bot"), person=owner)
    break_glass_close(break_glass=done, actor=estate.cast.security_analyst, note="Justified by INC-1")
    enter_as(page, live_server, estate.cast.manager)
    page.goto(f"{live_server.url}/reviews/inbox/")
    page.get_by_role("link", name="Break-glass reviews").click()
    expect(page.get_by_role("heading", name="Break-glass reviews")).to_be_visible()
    expect(page.locator("#break-glass-to-close")).to_have_text("2 for you to close")
    expect(page.locator("table .badge-danger", has_text="Overdue")).to_be_visible()
    shot(page, "4_list")
    row = page.locator(f"#bg-{open_one.uuid.hex}")
    row.get_by_label("What you found").fill("Checked the trail: failover only, access ended with the task")
    row.get_by_role("button", name="Close review").click()
    page.locator("dialog").get_by_role("button", name="Close review").click()
    expect(page.locator("#break-glass-to-close")).to_have_text("1 for you to close")
    expect(page.locator(f"#bg-{open_one.uuid.hex}")).to_contain_text("Checked the trail")
    expect(page.get_by_text("Break-glass review of triage-bot closed.")).to_be_visible()
    shot(page, "5_list_closed")
    open_one.refresh_from_db()
    assert open_one.closed_by == estate.cast.manager
