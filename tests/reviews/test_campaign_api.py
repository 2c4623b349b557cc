"""/api/v1/campaigns/ and /api/v1/campaign-runs/: defining, changing, previewing, launching and archiving;
bad input (a scope that matches nothing, an invalid cron, a reviewer rule pointing at nobody, NUL, oversized)
answers 400 naming the field and writes nothing; who may use each endpoint (anonymous, wrong role, allowed —
campaigns belong to no owner, so "another owner's object" is every non-reading role's 403); list query counts."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django_celery_beat.models import PeriodicTask

from agentiam.permissions import SEE_EVERYTHING, Role
from audit.models import AuditEntry
from reviews.models import Campaign, CampaignRun
from reviews.services import campaigns
from tests.cast import check_access, make_person
from tests.reviews.campaign_estate import estate as estate  # the fixture

pytestmark = pytest.mark.django_db
LIST = "/api/v1/campaigns/"
RUNS = "/api/v1/campaign-runs/"


def post(client, path, body=None, method="post"):
    return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")


def _campaign(cast, **extra):
    return campaigns.campaign_create(actor=cast.compliance_officer, name=extra.pop("name", "Quarterly"), **extra)


def test_a_compliance_officer_defines_a_recurring_campaign_with_a_second_stage(cast, estate, client_factory):
    client = client_factory(cast.compliance_officer)
    response = post(client, LIST, {
        "name": "Quarterly agent access", "identity_kinds": ["agent"], "risk_tiers": [], "standing_only": True,
        "recurrence": "cron", "cron": "0 6 1 */3 *", "timezone": "Europe/Paris", "reminder_days": [2, 7],
        "stages": [{"duration_days": 10, "no_answer_outcome": "revoke"},
                   {"reviewer_rule": "manager", "selects": "keeps_high", "duration_days": 5,
                    "no_answer_outcome": "escalate"}],
    })  # fmt: skip
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["reminder_days"] == [7, 2] and made["independent_reviewer"] == "privileged"
    assert [s["no_answer_outcome"] for s in made["stages"]] == ["revoke", "escalate"]
    campaign = Campaign.objects.get(uuid=made["id"])
    task = PeriodicTask.objects.get(pk=campaign.periodic_task_id)
    assert task.task == "reviews.tasks.launch_scheduled_campaign" and task.enabled
    assert (task.crontab.month_of_year, str(task.crontab.timezone)) == ("*/3", "Europe/Paris")
    assert AuditEntry.objects.filter(action="campaign.create", object_id=made["id"]).exists()

    changed = post(client, f"{LIST}{made['id']}/", {"recurrence": "once", "cron": ""}, method="patch")
    assert changed.status_code == 200, changed.content
    assert not PeriodicTask.objects.get(pk=task.pk).enabled


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x\x00y"}, "name"),
        ({"name": "ok", "description": "d" * 4001}, "description"),
        ({"name": "ok", "risk_tiers": ["critical"], "environments": ["prod"]}, "environments"),
        ({"name": "ok", "recurrence": "cron", "cron": "61 * * * *"}, "cron"),
        ({"name": "ok", "recurrence": "cron", "cron": "* * *"}, "cron"),
        ({"name": "ok", "recurrence": "cron"}, "cron"),
        ({"name": "ok", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "ok", "reviewer_rule": "fallback"}, "fallback_group"),
        ({"name": "ok", "fallback_group": "empty-group"}, "fallback_group"),
        ({"name": "ok", "identity_kinds": ["robot"]}, "identity_kinds"),
        ({"name": "ok", "stages": [{}, {"selects": "all"}]}, "stages"),
        ({"name": "ok", "unused_days": 0}, "unused_days"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(cast, estate, client_factory, body, field):
    Group.objects.create(name="empty-group")
    client = client_factory(cast.compliance_officer)
    before = (Campaign.objects.count(), AuditEntry.objects.count(), PeriodicTask.objects.count())
    response = post(client, LIST, body)
    assert response.status_code == 400, response.content
    assert field in json.dumps(response.json()), response.json()
    assert (Campaign.objects.count(), AuditEntry.objects.count(), PeriodicTask.objects.count()) == before


def test_a_reviewer_rule_pointing_at_nobody_is_refused(cast, estate, client_factory):
    group = Group.objects.create(name="reviewers")
    make_person("gone", Role.IDENTITY_OWNER, is_active=False).groups.add(group)
    response = post(client_factory(cast.compliance_officer), LIST, {"name": "x", "fallback_group": "reviewers"})
    assert response.status_code == 400 and response.json()["fields"] == {"fallback_group": [
        campaigns.ERR_FALLBACK_EMPTY]}  # fmt: skip
    assert not Campaign.objects.exists()


def test_preview_counts_items_reviewers_and_flags_and_launch_answers_the_run(cast, estate, client_factory):
    campaign = _campaign(cast)
    client = client_factory(cast.compliance_officer)
    preview = client.get(f"{LIST}{campaign.uuid}/preview/").json()
    assert preview == {"items": 4, "flagged": 2, "keep": 1, "unrouted": 0, "reviewers": 1,
                       "heaviest": [{"reviewer": cast.identity_owner.username, "items": 4, "flagged": 2}]}  # fmt: skip

    launched = post(client, f"{LIST}{campaign.uuid}/launch/")
    assert launched.status_code == 202, launched.content
    run = launched.json()
    assert run["state"] == "launching" and run["number"] == 1
    again = post(client, f"{LIST}{campaign.uuid}/launch/")
    assert again.status_code == 409 and CampaignRun.objects.count() == 1
    detail = client.get(f"{RUNS}{run['id']}/").json()
    assert detail["definition"]["name"] == "Quarterly" and detail["progress_percent"] == 0


def test_an_empty_scope_cannot_be_saved_nor_launched(cast, estate, client_factory):
    response = post(client_factory(cast.compliance_officer), LIST, {"name": "none", "environments": ["prod"]})
    assert response.status_code == 400 and response.json()["fields"] == {"environments": [campaigns.ERR_EMPTY_SCOPE]}


def test_archived_campaigns_are_not_launched(cast, estate, client_factory):
    campaign = _campaign(cast)
    client = client_factory(cast.compliance_officer)
    assert post(client, f"{LIST}{campaign.uuid}/archive/").status_code == 200
    assert post(client, f"{LIST}{campaign.uuid}/launch/").status_code == 409
    assert post(client, f"{LIST}{campaign.uuid}/archive/").status_code == 409


def test_who_may_use_the_campaign_endpoints(cast, estate, client_factory):
    campaign = _campaign(cast)
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    readers = SEE_EVERYTHING
    for path in (LIST, f"{LIST}{campaign.uuid}/", f"{LIST}{campaign.uuid}/preview/", RUNS, f"{RUNS}{run.uuid}/"):
        check_access(client_factory, path, cast=cast, allowed=readers)
    names = iter(range(100))
    check_access(client_factory, LIST, cast=cast, allowed={Role.COMPLIANCE_OFFICER}, method="post",
                 data=lambda who: json.dumps({"name": f"by {who} {next(names)}"}), expect_allowed=(201,))  # fmt: skip
    check_access(client_factory, f"{LIST}{campaign.uuid}/", cast=cast, allowed={Role.COMPLIANCE_OFFICER},
                 method="patch", data=json.dumps({"description": "tightened"}))  # fmt: skip
    check_access(
        client_factory,
        f"{LIST}{campaign.uuid}/launch/",
        cast=cast,
        allowed={Role.COMPLIANCE_OFFICER},
        method="post",
        data="{}",
        expect_allowed=(409,),
    )  # fmt: skip  (one run is launching already)
    check_access(client_factory, f"{LIST}{campaign.uuid}/archive/", cast=cast, allowed={Role.COMPLIANCE_OFFICER},
                 method="post", data="{}")  # fmt: skip
    assert Campaign.objects.filter(description="tightened").count() == 1


def test_the_list_reads_in_a_fixed_number_of_queries(cast, estate, client_factory, django_assert_max_num_queries):
    client = client_factory(cast.auditor)
    for n in range(2):
        _campaign(cast, name=f"c{n}")
    with django_assert_max_num_queries(14) as two:
        assert client.get(LIST).status_code == 200
    for n in range(2, 50):
        Campaign.objects.create(name=f"c{n}", created_by=cast.compliance_officer)
    with django_assert_max_num_queries(len(two.captured_queries)):
        assert len(client.get(LIST).json()["results"]) == 50
