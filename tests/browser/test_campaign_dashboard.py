"""A campaign run's dashboard in a real browser: a compliance officer watches progress (burn-down, per reviewer,
overdue, fulfilment), signs the run off stepped up (the confirmation dialog), and opens the frozen report.
Screenshots at 1440x900 and 390x844, with no sideways scroll; the page's CSP holds (no violation reported)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agentiam import outbox
from reviews.models import CampaignRun, ReviewItem
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.factories import EntitlementFactory, IdentityFactory, ToolFactory
from tests.reviews.campaign_support import decide, item_for, open_run
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS") or ARTIFACTS / "screenshots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"campaign_{name}_{label}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} scrolls sideways at {size['width']} px ({width} px wide)"
    page.set_viewport_size({"width": 1440, "height": 900})


def a_campaign_half_done(cast):
    """Three owners' agents, 18 items over 12 days: decided on several days (some in bulk), one revoked and
    fulfilled, some pending and two overdue."""
    run = open_run(days_left=5, started_days_ago=9)
    now = timezone.now()
    items = []
    for n, name in enumerate(("alice", "bob", "carol")):
        owner = make_person(name, "identity_owner", manager=cast.manager, first_name=name.title(), last_name="Owner")
        agent = IdentityFactory(owner=owner, name=f"{name}-triage-agent")
        for k in range(6):
            tool = ToolFactory(key=f"github.tool_{n}_{k}")
            items.append((owner, item_for(run, EntitlementFactory(identity=agent, tool=tool), owner,
                                          recommendation="revoke" if k == 0 else "keep",
                                          flagged=k == 0, reason="unused for 90 days" if k == 0 else "")))  # fmt: skip
    for index, (_owner, item) in enumerate(items):
        if index % 6 == 5:
            continue  # still pending
        if index == 0:
            decide(item, "revoke", comment="never used since March")
            continue
        decide(item, "certify", bulk=index % 3 == 0, comment="used weekly")
        ReviewItem.objects.filter(pk=item.pk).update(decided_at=now - timedelta(days=8 - index // 3))
    outbox.deliver_due()
    overdue = [item for index, (_, item) in enumerate(items) if index % 6 == 5][:2]
    ReviewItem.objects.filter(pk__in=[i.pk for i in overdue]).update(due_at=now - timedelta(hours=3))
    return run, items


def test_a_compliance_officer_watches_a_campaign_signs_it_off_and_opens_the_frozen_report(live_server, page, cast):
    run, items = a_campaign_half_done(cast)
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)  # fmt: skip
    enter_as(page, live_server, cast.compliance_officer, step_up=True)
    page.goto(f"{live_server.url}/reviews/campaigns/runs/{run.uuid}/dashboard/")
    expect(page.locator("#burndown-actual")).to_be_visible()
    expect(page.locator("#stat-overdue")).to_have_text("2")
    expect(page.locator("#reviewer-progress")).to_contain_text("Alice Owner")
    expect(page.locator("#ful-done")).to_have_text("1")
    shot(page, "dashboard")

    # The rest is decided; the officer signs off from the dashboard, through the confirmation dialog.
    for _owner, item in items:
        if ReviewItem.objects.get(pk=item.pk).state == "pending":
            decide(item, "certify", comment="checked")
    page.goto(f"{live_server.url}/reviews/campaigns/runs/{run.uuid}/dashboard/")
    page.locator("#sign-off-link").click()
    page.get_by_label("Note for the record").fill("Q4 agent access certified.")
    shot(page, "sign_off")
    page.get_by_role("button", name="Sign off").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Sign off").click()
    expect(page.locator("#signed-off")).to_contain_text("Signed off")
    expect(page.locator("#run-state")).to_have_text("Closed")
    assert CampaignRun.objects.get(pk=run.pk).state == "closed"

    page.get_by_role("link", name="Printable report").click()
    expect(page.locator("#campaign-report")).to_contain_text("Q4 agent access certified.")
    expect(page.locator("#campaign-report")).to_contain_text("alice-triage-agent")
    shot(page, "report")
    assert not violations, violations
