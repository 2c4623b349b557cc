"""Campaign pages and commands: who may open each page (anonymous to sign-in, wrong role 403, the reading roles
200, compliance officers alone define and launch), the form's field errors with nothing saved, the preview,
launching from the page, the progress partial htmx polls, and manage.py list_campaigns / launch_campaign."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from agentiam.permissions import SEE_EVERYTHING, Role
from reviews.models import Campaign, CampaignRun, ReviewItem
from reviews.services import campaigns
from tests.cast import check_access
from tests.reviews.campaign_estate import estate as estate  # the fixture

pytestmark = pytest.mark.django_db
FORM = {"name": "Agents, quarterly", "identity_kinds": ["agent"], "include_entitlements": "on",
        "reviewer_rule": "owner", "independent_reviewer": "privileged", "duration_days": "14",
        "no_answer_outcome": "keep", "reminder_days": "7, 2", "comment_required": "keep_flagged",
        "recurrence": "once", "timezone": "UTC"}  # fmt: skip


def _campaign(cast):
    return campaigns.campaign_create(actor=cast.compliance_officer, name="Quarterly")


def test_who_may_open_the_campaign_pages(cast, estate, client_factory):
    campaign = _campaign(cast)
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    for path in ("/reviews/campaigns/", f"/reviews/campaigns/{campaign.uuid}/",
                 f"/reviews/campaign-runs/{run.uuid}/progress/"):  # fmt: skip
        check_access(client_factory, path, cast=cast, allowed=SEE_EVERYTHING)
    for path in ("/reviews/campaigns/new/", f"/reviews/campaigns/{campaign.uuid}/edit/"):
        check_access(client_factory, path, cast=cast, allowed={Role.COMPLIANCE_OFFICER})
    check_access(client_factory, f"/reviews/campaigns/{campaign.uuid}/launch/", cast=cast, method="post",
                 allowed={Role.COMPLIANCE_OFFICER}, expect_allowed=(302,))  # fmt: skip
    assert CampaignRun.objects.count() == 1  # refused (already launching) for the officer, forbidden for the rest


def test_the_form_saves_a_definition_and_marks_bad_fields_saving_nothing(cast, estate, client_factory):
    client = client_factory(cast.compliance_officer)
    bad = client.post("/reviews/campaigns/new/", {**FORM, "recurrence": "cron", "cron": "61 * * * *"})
    assert bad.status_code == 400 and b"Give five cron fields" in bad.content
    empty = client.post("/reviews/campaigns/new/", {**FORM, "environments": ["prod"]})
    assert empty.status_code == 400 and b"selects no entitlement" in empty.content
    assert not Campaign.objects.exists()

    saved = client.post("/reviews/campaigns/new/", {**FORM, "second_stage": "on", "second_reviewer_rule": "manager",
                                                     "second_selects": "keeps_high", "second_duration_days": "5",
                                                     "second_no_answer_outcome": "escalate"})  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert campaign.reminder_days == [7, 2] and campaign.stages.count() == 2
    edit = client.get(f"/reviews/campaigns/{campaign.uuid}/edit/")
    assert edit.status_code == 200 and b'value="Agents, quarterly"' in edit.content


def test_the_page_previews_launches_and_shows_the_progress(cast, estate, client_factory):
    campaign = _campaign(cast)
    client = client_factory(cast.compliance_officer)
    page = client.get(f"/reviews/campaigns/{campaign.uuid}/").content.decode()
    owner = cast.identity_owner.get_full_name() or cast.identity_owner.username
    assert "Heaviest reviewers" in page and owner in page and "Launch now" in page
    assert client.post(f"/reviews/campaigns/{campaign.uuid}/launch/").status_code == 302
    run = CampaignRun.objects.get()
    progress = client.get(f"/reviews/campaign-runs/{run.uuid}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in progress and "Fixing the set in scope" in progress
    from reviews import tasks

    tasks.launch_campaign_run(str(run.uuid))
    done = client.get(f"/reviews/campaign-runs/{run.uuid}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done and "4 items" in done
    auditor_page = client_factory(cast.auditor).get(f"/reviews/campaigns/{campaign.uuid}/").content.decode()
    assert "Launch now" not in auditor_page


def test_the_commands_list_and_launch_campaigns(cast, estate):
    campaign = _campaign(cast)
    out = io.StringIO()
    call_command("launch_campaign", "Quarterly", "--as", cast.compliance_officer.username, "--wait", stdout=out)
    launched = json.loads(out.getvalue())
    assert launched["state"] == "open" and launched["total"] == 4 and len(launched["item_digest"]) == 64
    assert ReviewItem.objects.count() == 4
    listed = io.StringIO()
    call_command("list_campaigns", "--json", stdout=listed)
    row = json.loads(listed.getvalue().splitlines()[0])
    assert row["id"] == str(campaign.uuid) and row["state"] == "open" and row["items"] == 4
    with pytest.raises(CommandError, match="compliance officer"):
        call_command("launch_campaign", str(campaign.uuid), "--as", cast.auditor.username)
    with pytest.raises(CommandError, match="No campaign"):
        call_command("launch_campaign", "nope", "--as", cast.compliance_officer.username)
