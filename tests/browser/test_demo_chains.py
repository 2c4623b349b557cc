"""The demo's chains in a real browser (issue 12 item 8 and acceptance): after seed_demo a security analyst finds
the widening chain in the chain list (filtered to widened), reads its graph — the widening step marked — follows
its alert and suspends triage-bot from it; then opens the support-intake workflow's trail. Screenshots of the
chain list, the chain and the workflow page at 1440x900 and 390x844, no sideways scroll."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from audit.events import seeds
from identities.models import Identity, Workflow
from tests.browser.test_alerts import shoot
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_analyst_follows_the_demo_widening_chain_to_its_alert_and_suspends_the_agent(live_server, page, cast):
    call_command("seed_demo", stdout=io.StringIO())
    trace = seeds.trace_of(seeds.WIDENING)
    enter_as(page, live_server, cast.security_analyst)
    page.goto(f"{live_server.url}/events/chains/")
    expect(page.locator(f"#chain-{trace}")).to_be_visible()
    shoot(page, "chain_list")
    page.get_by_label("Widened").select_option("yes")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="invoke_agent triage-bot").click()
    expect(page.get_by_role("heading", name=trace)).to_be_visible()
    expect(page.locator(".chain-widening")).to_have_count(1)
    expect(page.locator(".chain-widening")).to_contain_text("github.manage_secrets")
    expect(page.locator(".chain-denied")).to_have_count(1)
    shoot(page, "demo_chain")
    page.get_by_role("link", name="Widens from jira.search_issues to github.manage_secrets").first.click()
    expect(page.get_by_role("heading", name="Widens from jira.search_issues to github.manage_secrets")).to_be_visible()
    page.get_by_role("link", name="Suspend triage-bot").click()
    page.get_by_label("Reason").fill("widened from a ticket read into writing a deploy secret")
    page.get_by_role("button", name="Suspend now").click()
    dialog = page.locator("dialog[open]")
    if dialog.count():
        dialog.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("triage-bot is suspended")).to_be_visible()
    assert Identity.objects.get(name="triage-bot").status == "suspended"

    workflow = Workflow.objects.get(name="support-intake")
    page.goto(f"{live_server.url}/workflows/{workflow.uuid}/")
    expect(page.get_by_role("heading", name="support-intake")).to_be_visible()
    expect(page.locator(f"#chain-{trace}")).to_be_visible()
    expect(page.get_by_text("Identity fan-out")).to_be_visible()  # refund-assistant serves two workflows
    shoot(page, "workflow")
