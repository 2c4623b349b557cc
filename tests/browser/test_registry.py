"""The registry in a real browser: an owner registers an agent, writes its acceptable use, reads its risk tier
and why, grants it standing read and suspends it; an administrator who does not own it grants a standing write
with an exception — with no console error or CSP violation (the `page` fixture fails on either) and
screenshots of each screen in test-results/screenshots/registry_*.png."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agentiam.permissions import Role
from identities import seeds, services
from identities.models import Entitlement, Identity, RiskException
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.factories import SystemFactory, ToolFactory
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# pytest-playwright empties test-results/ when a session starts; a shared machine may point elsewhere.
SHOTS = Path(os.environ.get("AGENTIAM_SCREENSHOT_DIR") or ARTIFACTS / "screenshots")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"registry_{name}.png"), full_page=True)


def confirm(page, button: str) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()


def test_an_owner_registers_governs_and_suspends_an_agent_and_an_administrator_accepts_a_write(
    live_server, page, expect_form_errors
):
    manager = make_person("maya", Role.MANAGER, first_name="Maya", last_name="Lindqvist")
    owner = make_person("oliver", Role.IDENTITY_OWNER, first_name="Oliver", last_name="Grant", manager=manager)
    admin = make_person("priya", Role.ADMINISTRATOR, first_name="Priya", last_name="Raman")
    github = SystemFactory(name="GitHub", kind="saas", vendor="GitHub")
    ToolFactory(system=github, key="github.read_repository", name="Read repository", actions=["read"])
    ToolFactory(
        system=github,
        key="github.create_pull_request",
        name="Create pull request",
        actions=["read", "write"],
        sensitivity="medium",
        production=True,
    )

    # The owner registers an agent that writes code in production.
    enter_as(page, live_server, owner)
    page.goto(live_server.url + "/identities/mine/")
    expect(page.get_by_text("You own no identities yet")).to_be_visible()
    page.get_by_role("link", name="Register identity").first.click()
    page.get_by_label("Name").fill("release-notes-agent")
    page.get_by_label("Description").fill("Drafts release notes from merged pull requests.")
    page.get_by_label("Environment").select_option("prod")
    page.get_by_label("Hosted on").select_option("aws")
    page.get_by_label("Cloud account").fill("acme-prod-1234")
    page.get_by_label("Region").fill("eu-west-1")
    page.get_by_label("Generates code").check()
    page.get_by_label("Internet egress").check()
    page.get_by_label("Model provider").fill("Anthropic")
    page.get_by_label("Model", exact=True).fill("claude-sonnet")
    page.get_by_label("Source commit").fill("not a commit")
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".field.has-error")).to_contain_text("A commit is 7 to 64 hexadecimal characters.")
    shot(page, "01_register_with_a_field_error")
    page.get_by_label("Source commit").fill("9f3c2ab")
    page.get_by_label("Source repository").fill("github.com/acme/release-notes-agent")
    page.get_by_role("button", name="Register").click()

    # Its page: the tier and why, and what needs attention.
    expect(page.locator("h1")).to_contain_text("release-notes-agent")
    expect(page.locator(".toast")).to_contain_text("is registered: risk tier High")
    risk = page.locator("#risk")
    expect(risk.locator(".risk-tier .tier")).to_have_text("High")
    expect(risk).to_contain_text("Generates code in production")
    expect(risk).to_contain_text("Internet egress")
    expect(page.locator(".panel-attention")).to_contain_text("No acceptable-use record")
    shot(page, "02_new_agent_needs_attention")

    # Acceptable use, version 1.
    page.locator(".panel-attention").get_by_role("link", name="Add acceptable use").click()
    page.get_by_label("Purpose").fill("Draft release notes from merged pull requests of the acme/web repository.")
    page.get_by_label("Allowed tools").fill("github.read_*\ngithub.create_pull_request")
    page.get_by_label("Internal").check()
    page.get_by_label("Prohibited actions").fill("Never merges, never touches secrets.")
    page.get_by_label("Human in the loop").fill("A maintainer approves every pull request it opens.")
    shot(page, "03_acceptable_use_form")
    page.get_by_role("button", name="Approve version").click()
    expect(page.locator("#acceptable-use")).to_contain_text("version 1")
    expect(page.locator(".panel-attention")).to_have_count(0)

    # A standing read, narrowed by a scope.
    page.get_by_role("link", name="Grant access").first.click()
    expect(page.get_by_label("Write")).to_have_count(0)  # owners grant read only
    page.get_by_label("Tool").select_option(label="github.read_repository — GitHub")
    page.locator("input[name=scope_attr_0]").fill("repo")
    page.locator("input[name=scope_pattern_0]").fill("acme/web")
    page.get_by_label("Reason").fill("Reads merged pull requests")
    shot(page, "04_grant_standing_read")
    page.get_by_role("button", name="Grant access").click()
    row = page.locator("#entitlements tbody tr").filter(has_text="github.read_repository")
    expect(row).to_contain_text("repo")
    expect(row).to_contain_text("acme/web")
    assert Entitlement.objects.get(tool__key="github.read_repository").scope == {"repo": "acme/web"}

    # An administrator who does not own it grants a standing write: the service asks for an exception.
    agent = Identity.objects.get(name="release-notes-agent")
    enter_as(page, live_server, admin)
    page.goto(f"{live_server.url}/identities/{agent.uuid}/")
    page.get_by_role("link", name="Grant access").first.click()
    page.get_by_label("Tool").select_option(label="github.create_pull_request — GitHub")
    page.get_by_label("Write").check()
    page.get_by_label("Reason").fill("Opens the release-notes pull request")
    page.get_by_role("button", name="Grant access").click()
    expect(page.locator(".exception-box")).to_be_visible()
    expect(page.locator(".exception-box")).to_contain_text("needs an approved, expiring exception")
    page.get_by_label("Why accept this risk").fill("Release automation; PRs are reviewed by a maintainer.")
    page.get_by_label("Exception until (UTC)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Grant and accept the risk").click()
    expect(page.locator(".field.has-error")).to_contain_text("within 365 days")
    shot(page, "05_write_needs_an_exception")
    page.get_by_label("Exception until (UTC)").fill(_in_days(90))
    page.get_by_role("button", name="Grant and accept the risk").click()
    write_row = page.locator("#entitlements tbody tr").filter(has_text="github.create_pull_request")
    expect(write_row).to_contain_text("Accepted")
    expect(write_row).to_contain_text("priya")
    assert RiskException.objects.get(entitlement__identity=agent).accepted_by == admin
    shot(page, "06_identity_page_with_exception")

    # Back to the owner: the list, then the kill switch.
    enter_as(page, live_server, owner)
    page.goto(live_server.url + "/identities/mine/")
    expect(page.locator("#identity-table tbody tr")).to_have_count(1)
    shot(page, "07_my_identities")
    page.get_by_role("link", name="release-notes-agent").click()
    kill = page.locator("#kill-switch")
    kill.get_by_role("button", name="Suspend release-notes-agent").click()
    confirm(page, "Suspend now")
    expect(kill.locator(".field-error")).to_contain_text("This field is required")  # swapped in place by htmx
    kill.get_by_label("Reason").fill("Opened pull requests against the wrong repository")
    kill.get_by_role("button", name="Suspend release-notes-agent").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    shot(page, "08_suspend_confirmation")
    confirm(page, "Suspend now")
    expect(page.locator(".alert-strong")).to_contain_text("Suspended")
    expect(page.locator(".toast")).to_contain_text("is suspended")
    expect(page.locator("#kill-switch")).to_have_count(0)
    shot(page, "09_suspended")
    agent.refresh_from_db()
    assert agent.status == "suspended"


def test_an_owner_revokes_access_inline_after_a_confirmation(live_server, page):
    owner = make_person("oliver", Role.IDENTITY_OWNER, first_name="Oliver", last_name="Grant")
    tool = ToolFactory(system=SystemFactory(name="Jira", kind="saas"), key="jira.search_issues", actions=["read"])
    agent = services.identity_create(
        actor=owner, kind="agent", name="triage-bot", environment="dev", exposure="internal"
    )
    services.entitlement_grant(identity=agent, tool=tool, action="read", actor=owner, scope={"project": "SUP"})
    enter_as(page, live_server, owner)
    page.goto(f"{live_server.url}/identities/{agent.uuid}/")
    row = page.locator("#entitlements tbody tr").filter(has_text="jira.search_issues")
    row.locator("summary", has_text="Revoke…").click()
    row.get_by_placeholder("Reason").fill("Project moved to another tracker")
    shot(page, "16_revoke_popover")
    row.locator(".popover-body").get_by_role("button", name="Revoke").click()
    confirm(page, "Revoke")
    expect(row).to_contain_text("Revoked")
    expect(page.locator(".toast")).to_contain_text("revoked from triage-bot")
    assert Entitlement.objects.get(identity=agent).revoked_at is not None


def test_the_demo_estate_reads_like_a_product(live_server, page):
    seeds.demo(io.StringIO())
    auditor = make_person("aiko", Role.AUDITOR, first_name="Aiko", last_name="Tanaka")
    enter_as(page, live_server, auditor)
    page.goto(live_server.url + "/")
    expect(page.locator("#panel-registry")).to_be_visible()
    shot(page, "00_demo_dashboard")
    page.locator(".attention-stat", has_text="orphaned").click()
    expect(page).to_have_url(re.compile(r"orphaned=true"))
    expect(page.locator("#identity-table tbody tr .badge-danger", has_text="No owner").first).to_be_visible()
    page.goto(live_server.url + "/identities/")
    expect(page.locator("#identity-table tbody tr").first).to_be_visible()
    shot(page, "10_demo_identity_list")
    page.get_by_label("Risk tier").select_option("critical")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"risk_tier=critical"))
    expect(page.locator("#identity-table tbody tr .tier-critical").first).to_be_visible()
    shot(page, "11_demo_critical_filter")
    page.locator("#identity-table tbody tr a.strong").first.click()
    expect(page.locator("#risk")).to_be_visible()
    shot(page, "12_demo_critical_identity")
    fan_out = Identity.objects.filter(flags__contains=["fan_out"]).first()
    if fan_out is not None:
        page.goto(f"{live_server.url}/identities/{fan_out.uuid}/")
        expect(page.locator("#workflows")).to_contain_text("one identity per workflow")
        shot(page, "13_demo_fan_out")
    page.goto(live_server.url + "/tools/")
    shot(page, "14_demo_tools")
    page.locator("#tool-table tbody tr a.mono").first.click()
    shot(page, "15_demo_tool_holders")


def _in_days(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
