"""Just-in-time elevation end to end in a real browser: the owner asks from the form for a scope the agent does
not hold; the manager finds it in the inbox and approves it for less time; the agent (the reference client)
exchanges for a token covering it and the gateway's decide allows the call; once the task is completed the next
call is denied. Screenshots of the inbox with the request and with the decided card, at 1440x900 and 390x844."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from agentiam.client import AgentClient, Gateway, RuntimeApiError, ToolServer
from agentiam.client.gateway import call_tool
from audit.services import signing_key_ensure
from identities.runtime import services as runtime
from reviews.models import ElevationRequest
from tests.conftest import ARTIFACTS
from tests.reviews.conftest import estate  # noqa: F401  (the fixture)
from tests.runtime_support import AUDIENCE, CLIENT_KEY, ensure_baseline_policy, public_jwk
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("AGENTIAM_SHOTS_DIR") or ARTIFACTS / "screenshots")
WRITE = "github.create_pull_request:write"
CALL = {"tool": "github.create_pull_request", "action": "write", "resource": {"repo": "acme/api"}}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"elevation_{name}_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways at {width}"
    page.set_viewport_size({"width": 1440, "height": 900})


@pytest.fixture
def runtime_estate(estate):  # noqa: F811
    """The reviews estate's agent with an assertion key, and a gateway for the tools' audience."""
    signing_key_ensure()
    ensure_baseline_policy()  # a transactional test elsewhere may have flushed the migration's version
    admin = estate.cast.administrator
    runtime.assertion_key_create(actor=admin, identity=estate.agent, jwk=public_jwk(CLIENT_KEY, "ed-1"),
                                 algorithm="EdDSA")  # fmt: skip
    _, credential = runtime.gateway_create(actor=admin, name="tools-gw", audiences=[AUDIENCE], environment="dev")
    return estate, credential


def test_an_owner_asks_a_manager_approves_less_and_the_agent_is_allowed_until_the_task_completes(
    live_server, page, runtime_estate
):
    world, credential = runtime_estate
    agent = AgentClient(live_server.url, token_endpoint=settings.RUNTIME_TOKEN_ENDPOINT)

    def exchange():
        proof = agent.assertion(client_id=str(world.agent.uuid), private_key=CLIENT_KEY, kid="ed-1")
        return agent.exchange(proof, audience=AUDIENCE, scopes=[WRITE], task="fix-ci")

    with pytest.raises(RuntimeApiError) as refused:  # not held yet
        exchange()
    assert refused.value.error == "invalid_scope" and refused.value.body["missing_scopes"] == [WRITE]

    # The owner asks, from the identity page's form.
    enter_as(page, live_server, world.cast.identity_owner)
    page.goto(f"{live_server.url}/reviews/identities/{world.agent.uuid}/ask/")
    expect(page.get_by_role("heading", name="Request just-in-time access")).to_be_visible()
    page.locator(f'input[name="scopes"][value="{WRITE}"]').check()
    page.get_by_label("Task").fill("fix-ci")
    page.get_by_label("For how long (minutes)").fill("120")
    page.get_by_label("Why").fill("CI is red on main; the fix needs a pull request")
    page.get_by_label("High").check()
    page.get_by_role("button", name="Ask for approval").click()
    expect(page.get_by_text("Asked. It waits for 1 approver(s).")).to_be_visible()
    asked = ElevationRequest.objects.get()
    assert asked.state == "pending" and asked.duration_seconds == 7200 and asked.scopes == [WRITE]

    # The manager finds it in the inbox and approves it for half an hour.
    enter_as(page, live_server, world.cast.manager)
    page.goto(f"{live_server.url}/reviews/inbox/")
    card = page.locator(f"#card-{asked.uuid.hex}")
    expect(card).to_be_visible()
    expect(card).to_contain_text("CI is red on main")
    expect(page.locator("#inbox-count")).to_have_text("1 waiting")
    shot(page, "1_inbox")
    card.get_by_label("Grant for (minutes)").fill("30")
    card.get_by_label("Comment").fill("Half an hour is enough for the fix")
    card.get_by_role("button", name="Approve").click()
    page.locator("dialog").get_by_role("button", name="Approve").click()
    card = page.locator(f"#card-{asked.uuid.hex}")
    expect(card).to_contain_text("for 30 min")
    expect(card).to_contain_text(f"Granted {WRITE}")
    expect(page.locator("#inbox-count")).to_have_text("0 waiting")
    toast = page.locator("[data-toast]").filter(has_text=f"Approved: {WRITE} granted until")
    expect(toast).to_be_visible()
    toast.get_by_role("button", name="Dismiss").click()  # so that the screenshots show the whole card
    expect(toast).to_have_count(0)
    shot(page, "2_decided")
    asked.refresh_from_db()
    assert asked.state == "approved" and asked.granted_duration_seconds == 1800
    assert asked.approvals.get().approver == world.cast.manager

    # The agent exchanges for a token covering it; the gateway's decide allows the call until the task completes.
    grant = exchange()
    assert WRITE in grant.scopes and grant.task == "fix-ci"
    with ToolServer() as tools, Gateway(agentiam_url=live_server.url, credential=credential, tool_url=tools.url) as gw:
        status, body = call_tool(gw.url, grant.access_token, **CALL)
        assert status == 200 and body["decision"] == "allow", body
        assert agent.complete(grant)["tokens_revoked"] >= 1
        status, body = call_tool(gw.url, grant.access_token, **CALL)
        assert status == 403 and body["decision"] == "deny", body
    assert len(tools.received) == 1
    asked.grant.refresh_from_db()
    assert asked.grant.ended_at is not None
