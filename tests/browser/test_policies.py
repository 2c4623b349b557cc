"""Governing a policy change in a real browser: an administrator drafts a stricter policy, sees what it
would change over the recorded decisions, and a second administrator activates it after a step-up and a
confirmation — with screenshots of each screen."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agentiam.permissions import Role
from identities.runtime.models import PolicyVersion
from tests.cast import make_person
from tests.conftest import ARTIFACTS
from tests.runtime.test_policy_governance import NO_GITHUB_READS, passing_cases
from tests.runtime_support import access_token, build_estate, decide
from tests.support import enter_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = ARTIFACTS / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"policies_{name}.png"), full_page=True)


def test_a_stricter_policy_is_drafted_simulated_and_activated_by_a_second_administrator(
    live_server, page, cast, expect_form_errors
):
    estate = build_estate(cast)
    baseline = PolicyVersion.objects.get(status="active")
    if not baseline.test_cases:
        # A flushed database lost the migration's version; an active version is frozen, so replace it.
        from identities.runtime.policy.cases import baseline_cases

        PolicyVersion.objects.filter(pk=baseline.pk).update(status="retired", retired_at=timezone.now())
        baseline = PolicyVersion.objects.create(
            number=baseline.number + 1,
            status="active",
            summary="Shipped baseline",
            policy_text=baseline.policy_text,
            schema_text=baseline.schema_text,
            test_cases=[c.as_json() for c in baseline_cases()],
            activated_at=timezone.now(),
        )
    token = access_token()["access_token"]
    decide(estate.credential, token)
    decide(estate.credential, token, resource={"repo": "other/api"})
    second = make_person("second-admin", Role.ADMINISTRATOR, employee_id="C-admin-2", first_name="Sam",
                         last_name="Second")  # fmt: skip

    enter_as(page, live_server, cast.administrator)
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", name="Policy versions")).to_be_visible()
    shot(page, "1_list")
    page.locator("#policy-table a").first.click()
    expect(page.locator("#rule-deny-token-inactive")).to_be_visible()
    shot(page, "2_active_version")
    page.get_by_role("button", name=f"New draft from v{baseline.number}").click()

    text = page.get_by_label("Policy (Cedar)")
    text.fill(text.input_value() + NO_GITHUB_READS)
    page.get_by_label("Summary of the change").fill("Pause repository reads during the incident")
    page.get_by_role("button", name="Save and validate").click()
    expect(page.locator(".field-error").first).to_contain_text("standing read is allowed")
    shot(page, "3_editor_errors")
    cases = json.dumps(passing_cases(text.input_value()), indent=2)
    page.get_by_label("Test cases (JSON)").fill(cases)
    page.get_by_role("button", name="Save and validate").click()
    expect(page.locator("#validation")).to_contain_text("passes schema validation")
    shot(page, "4_draft")
    page.get_by_role("link", name="Diff vs active").click()
    expect(page.locator(".diff-add").filter(has_text="deny-github-reads")).to_be_visible()
    shot(page, "5_diff")
    page.go_back()
    page.get_by_role("link", name="Simulate").click()
    expect(page.get_by_role("heading", name="1 call would flip")).to_be_visible()
    expect(page.locator("#flip-table")).to_contain_text("deny-github-reads")
    shot(page, "6_simulation")
    draft = PolicyVersion.objects.get(status="draft")

    enter_as(page, live_server, second, step_up=True)
    page.goto(f"{live_server.url}/runtime/policies/{draft.uuid}/")
    page.get_by_role("link", name="Activate…").click()
    shot(page, "7_activate")
    page.get_by_role("button", name=f"Activate v{draft.number}").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    shot(page, "8_confirm")
    dialog.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("heading", name=f"Policy version {draft.number}")).to_contain_text("Active")
    shot(page, "9_active")
    body = decide(estate.credential, token).json()
    assert body["decision"] == "deny" and "deny-github-reads" in body["reasons"]
