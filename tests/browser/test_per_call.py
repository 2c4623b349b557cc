"""Per-call re-authorisation in a real browser: the agent's write is denied with an access request, a manager
approves exactly that call on its page (htmx, with confirmation), the agent's next call is allowed, and the
same call again is denied and asks anew. Screenshots at 1440x900 and 390x844."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from identities import services as registry
from identities.models import Task
from identities.runtime import services as runtime
from identities.runtime.models import CallAuthorisation
from tests.conftest import ARTIFACTS
from tests.runtime_support import access_token, build_estate, decide
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS") or ARTIFACTS / "screenshots")
WRITE = {"tool": "github.create_pull_request", "action": "write", "resource": {"repo": "acme/api"}}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"per_call_{name}_{label}.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} scrolls sideways at {size['width']} px ({width} px wide)"
    page.set_viewport_size({"width": 1440, "height": 900})


def test_a_manager_approves_one_call_in_the_browser_and_only_that_call_is_allowed(live_server, page, cast):
    estate = build_estate(cast)
    first = access_token(task="deploy-7")
    task = Task.objects.get(uuid=first["task_id"])
    registry.grant_create(
        identity=estate.agent, task=task, entries=[(estate.create_pr, "write", {"repo": "acme/*"})],
        ends_at=timezone.now() + timedelta(hours=1), actor=cast.manager,
    )  # fmt: skip
    token = access_token(task="deploy-7", scope="github.create_pull_request:write")["access_token"]
    runtime.per_call_mode_create(actor=cast.security_analyst, identity=estate.agent, description="prod writes")

    denied = decide(estate.credential, token, **WRITE).json()
    assert denied["decision"] == "deny" and denied["reasons"] == ["deny-call-needs-approval"]
    access_request = denied["context"]["access_request"]
    assert denied["context"]["evaluation_id"] == denied["decision_id"]

    enter_as(page, live_server, cast.manager)
    page.goto(live_server.url + "/reviews/calls/")
    card = page.locator(f"#call-{access_request['id']}")
    expect(card).to_be_visible()
    expect(card.get_by_text("triage-bot")).to_be_visible()
    shot(page, "inbox")
    page.goto(live_server.url + access_request["form_url"].split("127.0.0.1:8000", 1)[-1])
    card = page.locator(f"#call-{access_request['id']}")
    card.get_by_label("Comment").fill("Release window, once")
    card.get_by_role("button", name="Approve once").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Approve").click()
    card = page.locator(f"#call-{access_request['id']}")
    expect(card.get_by_text("one matching call until")).to_be_visible()
    expect(card.get_by_role("button", name="Approve once")).to_have_count(0)
    assert CallAuthorisation.objects.get(uuid=access_request["id"]).state == "approved"
    shot(page, "approved")

    allowed = decide(estate.credential, token, **WRITE).json()
    assert allowed["decision"] == "allow" and "allow-call-approved" in allowed["reasons"]
    again = decide(estate.credential, token, **WRITE).json()
    assert again["decision"] == "deny" and again["context"]["access_request"]["id"] != access_request["id"]

    page.goto(live_server.url + "/reviews/calls/")
    expect(page.locator(f"#call-{again['context']['access_request']['id']}")).to_be_visible()
    expect(page.locator(f"#call-{access_request['id']} .badge", has_text="Used")).to_be_visible()
    shot(page, "after")
