"""The demo's review campaign (issue 11, Build item 9) and the acceptance point on usage: seed_demo leaves a
recurring quarterly agent-access review with a run in progress — decided items (certify and revoke with reasons,
revokes fulfilled), overdue ones, flagged ones with reasons — and the demo owner finds work in My reviews and on
the home page; a second seed_demo changes nothing. Before any action event exists, a campaign launched over the
demo recommends revoking for non-use only where the decision log covers the tool and shows no allow in N days;
elsewhere its items say "no usage data"."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max, Min
from django.urls import reverse
from django.utils import timezone

from agentiam import worklist
from audit.events.models import ActionEvent
from identities.models import Entitlement
from identities.runtime.models import PolicyDecision
from reviews import attest_reading
from reviews.campaign_demo import CAMPAIGN
from reviews.models import Campaign, CampaignRun, ReviewItem
from reviews.services.cadence import campaigns_tick
from reviews.services.campaigns import campaign_create, campaign_launch
from reviews.services.launching import run_launch
from tests.support import sign_in

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def person(username: str):
    return get_user_model().objects.get(username=username)


def test_seed_demo_leaves_a_quarterly_agent_review_in_progress_with_work_for_the_owner(client):
    printed = seed()
    campaign = Campaign.objects.get(name=CAMPAIGN)
    assert (campaign.recurrence, campaign.cron, campaign.timezone) == ("cron", "0 7 1 1,4,7,10 *", "Europe/Berlin")
    assert campaign.periodic_task.enabled and campaign.periodic_task.crontab.timezone.key == "Europe/Berlin"
    [run] = CampaignRun.objects.filter(campaign=campaign)
    assert run.state == "open" and run.item_digest and run.launched_by == person("compliance")
    items = ReviewItem.objects.filter(run=run)
    assert items.count() == run.total > 20 and f"{items.count()} items" in printed

    certified = items.filter(decision="certify", decided_via="reviewer")
    revoked = items.filter(decision="revoke", decided_via="reviewer")
    assert certified.count() >= 2 and revoked.count() >= 2
    assert all(item.comment for item in [*certified, *revoked])
    for item in revoked:  # fulfilled: the entitlement ended, on the review's authority
        assert (item.state, item.fulfilment_status) == ("fulfilled", "done")
        assert Entitlement.objects.get(pk=item.entitlement_id).revoked_at is not None

    now = timezone.now()
    pending = items.filter(state="pending")
    overdue = pending.filter(due_at__lt=now)
    assert overdue.count() == pending.count() > 10 and run.due_at < now  # the deadline passed: escalated, unanswered
    assert pending.filter(routed_via="escalated").exists()
    assert pending.filter(flagged=True, recommendation="revoke").exclude(reason="").count() >= 5

    owner = person("owner")
    mine = pending.filter(reviewer=owner)
    assert mine.filter(flagged=True).exists() and mine.filter(routed_via="reassigned").count() == mine.count()
    assert attest_reading.pending_count(owner) == mine.count()
    [work] = [item for item in worklist.items_for(owner) if item.key == "review_items"]
    assert work.count == mine.count() and work.oldest < now
    sign_in(client, owner)
    home = client.get(reverse("worklist"))  # the home page's "Waiting for you", loaded after the page
    assert home.status_code == 200 and "Access to review" in home.content.decode()
    page = client.get(reverse("reviews:my_reviews")).content.decode()
    assert "Quarterly agent-access review" in page and mine.filter(flagged=True).first().reason[:40] in page

    # Beat's cadence ticks afterwards (as under `make run`): the escalated items stay where they are.
    campaigns_tick()
    assert attest_reading.pending_count(person("owner")) == mine.count() and overdue.count() == pending.count()

    # Seeded once: a second run adds nothing and resets nothing.
    def state():
        rows = sorted(items.values_list("pk", "state", "reviewer_id"))
        return Campaign.objects.count(), CampaignRun.objects.count(), PolicyDecision.objects.count(), rows

    before = state()
    seed()
    assert state() == before


def test_before_any_action_event_a_campaign_over_the_demo_recommends_revoke_for_non_use_only_where_the_log_covers(
    monkeypatch,
):
    # The demo now also plays action chains (audit/events/seeds.py); this point is about the state before any
    # action event exists, so the demo is seeded without them.
    import audit.events.seeds

    monkeypatch.setattr(audit.events.seeds, "demo", lambda out=None, **kwargs: [])
    seed()
    assert not ActionEvent.objects.exists()
    compliance = person("compliance")
    campaign = campaign_create(actor=compliance, name="Everything, once")  # no scope: every entitlement
    run = campaign_launch(campaign=campaign, actor=compliance)
    assert run_launch(run_id=run.pk) == "open"
    run.refresh_from_db()
    at = run.extracted_at
    days = settings.REVIEWS_CAMPAIGN_UNUSED_DAYS
    unused_before = at - timedelta(days=days)
    # What the decision log covers, read here on its own: tools it has answered about since N days ago or earlier.
    first = PolicyDecision.objects.filter(decided_at__lte=at).values("tool_key").annotate(first=Min("decided_at"))
    covered = {row["tool_key"] for row in first if row["first"] <= unused_before}
    assert covered == {"github.read_repository", "jira.search_issues", "warehouse.query"}
    last_allow = {
        (row["identity_id"], row["tool_key"], row["action"]): row["last"]
        for row in PolicyDecision.objects.filter(decision="allow", decided_at__lte=at)
        .values("identity_id", "tool_key", "action")
        .annotate(last=Max("decided_at"))
    }
    other_grounds = {"no_aup", "aup_expired", "outside_aup", "privileged_standing", "orphaned"}
    items = list(ReviewItem.objects.filter(run=run).select_related("entitlement__tool"))
    assert len(items) == run.total > 20
    seen = {"unused": 0, "no_usage_data": 0, "keep": 0}
    for item in items:
        tool, action = item.entitlement.tool.key, item.entitlement.action
        used = last_allow.get((item.identity_id, tool, action))
        recent = used is not None and used >= unused_before
        if tool in covered and not recent:
            assert item.reasons[0] == "unused" and item.recommendation == "revoke", (tool, item.reason)
            assert "Not used in" in item.reason and item.evidence["usage_covered"] is True
            seen["unused"] += 1
        else:
            assert "unused" not in item.reasons, (tool, item.reason)
        if tool not in covered:
            assert item.evidence["usage_covered"] is False
            if not recent:
                assert "no_usage_data" in item.reasons and "No usage data" in item.reason, (tool, item.reason)
                seen["no_usage_data"] += 1
            if item.recommendation == "revoke":  # never for the lack of data alone
                assert other_grounds & set(item.reasons), (tool, item.reasons)
        if item.recommendation == "keep":
            assert recent and "used_recently" in item.reasons
            seen["keep"] += 1
    assert all(seen.values()), seen
