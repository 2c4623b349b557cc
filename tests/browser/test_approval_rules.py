"""Approval rules and delegations in a real browser. One administrator, stepped up, proposes a rule (dev writes
need two approvers); a second administrator, stepped up, reads it and applies it after a confirmation; the next
request the owner asks for from the form waits for two approvers. A manager names a delegate while away; the
owner asks; the delegate finds the request in their inbox, the manager no longer does. Screenshots of every
new page at 1440x900 and 390x844, none scrolling sideways."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from agentiam.permissions import Role
from reviews.models import ApprovalRule, ApprovalRuleChange, Delegation, ElevationRequest
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.reviews.conftest import estate  # noqa: F401  (the fixture)
from tests.reviews.support import ask
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS_DIR") or ARTIFACTS / "screenshots")
WRITE = "github.create_pull_request:write"


def shot(page, name: str) -> None:
    """Both sizes; nothing wider than the page (no sideways scroll) and no element wider than its panel."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"rules_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
        overflowing = page.evaluate(
            """() => [...document.querySelectorAll('.panel')].filter(p => p.scrollWidth > p.clientWidth + 1
                   && !p.querySelector('.table-wrap')).map(p => p.id || p.className)"""
        )
        assert not overflowing, f"{name}: wider than their panel at {width}: {overflowing}"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_one_administrator_proposes_a_rule_a_second_applies_it_and_it_governs_the_next_request(
    live_server,
    page,
    estate,  # noqa: F811
):
    author = estate.cast.administrator
    second = make_person("second-admin", Role.ADMINISTRATOR, first_name="Sam", last_name="Second")
    enter_as(page, live_server, author, step_up=True)
    page.goto(f"{live_server.url}/reviews/rules/")
    expect(page.get_by_role("heading", name="Approval rules", exact=True)).to_be_visible()
    expect(page.get_by_text("Production secrets: two approvers")).to_be_visible()
    shot(page, "1_list")
    page.get_by_role("link", name="Propose a rule").click()
    page.get_by_label("Name").fill("Dev write: two approvers")
    page.get_by_label("Priority").fill("5")
    page.get_by_label("Environment").select_option("dev")
    page.get_by_label("Action").select_option("write")
    page.get_by_label(re.compile(r"^Approvers needed\W*$")).fill("2")
    page.get_by_label("Longest duration (minutes)").fill("45")
    page.get_by_label("Why").fill("Writes in dev touch the shared CI: four eyes before they run")
    shot(page, "2_propose")
    page.get_by_role("button", name="Propose").click()
    expect(page.get_by_text("Proposed. It applies once a second administrator applies it.")).to_be_visible()
    expect(page.locator("#own-change")).to_contain_text("a second administrator must apply it")
    assert not ApprovalRule.objects.filter(name="Dev write: two approvers").exists()
    change = ApprovalRuleChange.objects.get()

    enter_as(page, live_server, second, step_up=True)
    page.goto(f"{live_server.url}/reviews/rules/")
    page.get_by_role("link", name="Create a rule: Dev write: two approvers").click()
    expect(page).to_have_url(f"{live_server.url}/reviews/rules/changes/{change.uuid}/")
    shot(page, "3_change")
    page.get_by_role("link", name="Review and apply…").click()
    shot(page, "4_apply")
    page.get_by_role("button", name="Apply").click()
    page.locator("dialog").get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Applied: “Dev write: two approvers” is created")).to_be_visible()
    rule = ApprovalRule.objects.get(name="Dev write: two approvers")
    assert rule.approvals_needed == 2 and rule.max_duration_seconds == 45 * 60
    page.goto(f"{live_server.url}/reviews/rules/changes/")
    expect(page.get_by_text("by Sam Second")).to_be_visible()
    shot(page, "5_changes")

    # The next request: the estate's agent is in dev; the owner asks for write from the form.
    enter_as(page, live_server, estate.cast.identity_owner)
    page.goto(f"{live_server.url}/reviews/identities/{estate.agent.uuid}/ask/")
    page.locator(f'input[name="scopes"][value="{WRITE}"]').check()
    page.get_by_label("Task").fill("fix-ci")
    page.get_by_label("For how long (minutes)").fill("30")
    page.get_by_label("Why").fill("CI is red on main")
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_text("Asked. It waits for 2 approver(s).")).to_be_visible()
    asked = ElevationRequest.objects.get()
    assert asked.rule == rule and asked.approvals_needed == 2


def test_a_manager_delegates_while_away_and_the_delegate_finds_the_request_in_their_inbox(
    live_server,
    page,
    estate,  # noqa: F811
):
    deputy = make_person("deputy", Role.MANAGER, first_name="Dana", last_name="Deputy", employee_id="C-deputy")
    enter_as(page, live_server, estate.cast.manager)
    page.goto(f"{live_server.url}/reviews/inbox/")
    page.get_by_role("link", name="Delegations").click()
    expect(page.get_by_text("No delegations")).to_be_visible()
    page.get_by_role("link", name="Name a delegate").click()
    page.get_by_label("Delegate").select_option("deputy")
    page.get_by_label("Reason").fill("Holiday")
    shot(page, "6_delegate")
    page.get_by_role("button", name="Name the delegate").click()
    expect(page.get_by_text("Dana Deputy decides the requests routed to you until")).to_be_visible()
    row = Delegation.objects.get()
    assert row.delegate == deputy and row.approver == estate.cast.manager
    expect(page.locator("#delegations tbody").get_by_text("Live", exact=True)).to_be_visible()
    shot(page, "7_delegations")

    asked = ask(estate)
    enter_as(page, live_server, deputy)
    page.goto(f"{live_server.url}/reviews/inbox/")
    expect(page.locator(f"#card-{asked.uuid.hex}")).to_be_visible()
    page.get_by_role("link", name="Delegations").click()
    expect(page.locator("#delegations").get_by_role("link", name="Revoke…")).to_have_count(0)

    enter_as(page, live_server, estate.cast.manager)
    page.goto(f"{live_server.url}/reviews/inbox/")
    expect(page.get_by_text("Nothing waits for your decision")).to_be_visible()
    page.goto(f"{live_server.url}/reviews/delegations/")
    page.get_by_role("link", name="Revoke…").click()
    page.get_by_role("button", name="Revoke").click()
    page.locator("dialog").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked: requests are routed to the approver again.")).to_be_visible()
    page.goto(f"{live_server.url}/reviews/inbox/")
    expect(page.locator(f"#card-{asked.uuid.hex}")).to_be_visible()
