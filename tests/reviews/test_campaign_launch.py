"""Launching a campaign: the set fixed by one statement, items created in resumable batches with their frozen
recommendation, reasons and evidence, routed to a reviewer; exactly one item per entitlement in scope however
often the task runs or wherever it stopped; the IPE evidence (scope, counts, extraction time, digest)."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from agentiam.permissions import Role
from identities.models import Identity, Profile
from reviews import tasks
from reviews.models import CampaignRun, CampaignScopeEntry, ReviewItem
from reviews.services import campaigns, launching
from tests.cast import make_person
from tests.factories import EntitlementFactory, IdentityFactory, OwnershipFactory, ToolFactory
from tests.reviews.campaign_estate import estate as estate  # the fixture

pytestmark = pytest.mark.django_db


def _launch(cast, **definition):
    campaign = campaigns.campaign_create(actor=cast.compliance_officer, name="Q4 agents", **definition)
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    return campaign, run


def _items(run) -> dict[str, ReviewItem]:
    return {item.identity.name: item for item in ReviewItem.objects.filter(run=run).select_related("identity")}


def test_a_launch_creates_one_item_per_entitlement_with_its_recommendation_and_reviewer(cast, estate):
    _, ents = estate
    _, run = _launch(cast, identity_kinds=["agent"])
    assert tasks.launch_campaign_run(str(run.uuid)) == "open"

    run.refresh_from_db()
    items = _items(run)
    assert set(items) == {"used", "idle", "dark", "outside"}
    assert items["used"].recommendation == "keep" and "used_recently" in items["used"].reasons
    assert items["used"].reason.startswith("Used on ")
    assert items["idle"].recommendation == "revoke" and items["idle"].reasons[0] == "unused"
    assert "Not used in the last 30 days" in items["idle"].reason
    assert items["dark"].recommendation == "none" and items["dark"].reasons == ["no_usage_data"]
    assert "No usage data" in items["dark"].reason and "unused" not in items["dark"].reasons
    assert items["outside"].recommendation == "revoke" and "outside_aup" in items["outside"].reasons
    assert items["idle"].flagged and not items["used"].flagged
    assert items["used"].evidence["usage_source"] == "decision_log"
    assert items["used"].evidence["days_since_use"] == 2
    assert items["dark"].evidence["usage_covered"] is False
    assert {item.reviewer_id for item in items.values()} == {cast.identity_owner.pk}
    assert {item.routed_via for item in items.values()} == {"owner"}
    assert items["outside"].independent and not items["used"].independent

    # IPE: scope, counts, extraction time, the statement and a digest of the item set.
    assert run.state == "open" and run.total == 4 and run.processed == 4
    assert run.counts["entitlements"] == 4 and run.counts["identities"] == 4
    assert run.extracted_at is not None and "INSERT INTO reviews_campaignscopeentry" in run.scope_sql
    keys = "\n".join(str(ents[name].uuid) for name in sorted(ents, key=lambda n: ents[n].pk))
    assert run.item_digest == hashlib.sha256(keys.encode()).hexdigest()
    assert run.definition["scope"]["identity_kinds"] == ["agent"]


def test_running_the_task_twice_creates_nothing_twice(cast, estate):
    _, run = _launch(cast)
    tasks.launch_campaign_run(str(run.uuid))
    tasks.launch_campaign_run(str(run.uuid))
    launching.run_launch(run_id=run.pk)
    assert ReviewItem.objects.filter(run=run).count() == 4
    assert CampaignScopeEntry.objects.filter(run=run).count() == 4


def test_a_launch_interrupted_after_a_batch_resumes_and_one_killed_mid_batch_leaves_nothing(cast, estate):
    _, run = _launch(cast)
    assert launching.run_extract(run_id=run.pk)
    assert not launching.run_extract(run_id=run.pk)  # the set is fixed once
    assert launching.run_batch(run_id=run.pk, size=1)
    assert ReviewItem.objects.filter(run=run).count() == 1

    # A worker killed in the middle of the next batch: its transaction never commits.
    with pytest.raises(DatabaseError), transaction.atomic():
        launching.run_batch(run_id=run.pk, size=2)
        assert ReviewItem.objects.filter(run=run).count() == 3
        raise DatabaseError("worker killed")
    run.refresh_from_db()
    assert run.processed == 1 and ReviewItem.objects.filter(run=run).count() == 1

    # Meanwhile an entitlement in the set is granted elsewhere: the set was fixed at extraction.
    EntitlementFactory(identity=Identity.objects.get(name="used"), tool=ToolFactory(key="jira.comment"))
    assert tasks.launch_campaign_run(str(run.uuid)) == "open"
    assert ReviewItem.objects.filter(run=run).count() == 4
    assert sorted(ReviewItem.objects.filter(run=run).values_list("seq", flat=True)) == [1, 2, 3, 4]


def test_routing_skips_whoever_holds_requested_or_granted_and_falls_back(cast, estate):
    group = make_person("fallback-reviewer", Role.IDENTITY_OWNER).groups.create(name="Access reviewers")
    fallback = group.user_set.get()
    # A human identity owned by its own person: the owner's manager reviews it.
    person = make_person("human-one", manager=cast.manager)
    human = IdentityFactory(kind="human", person=person, name="human", is_orphaned=False)
    OwnershipFactory(identity=human, person=person)
    EntitlementFactory(identity=human, tool=ToolFactory(key="jira.read_issue"))
    # The owner granted a write entitlement: independent, so the owner's manager reviews it.
    granted = IdentityFactory(name="granted", is_orphaned=False)
    OwnershipFactory(identity=granted, person=cast.identity_owner)
    EntitlementFactory(identity=granted, tool=ToolFactory(key="slack.post"), action="write",
                       granted_by=cast.identity_owner)  # fmt: skip
    # An orphaned identity: nobody owns it, so the fallback group reviews it.
    orphan = IdentityFactory(name="orphan", is_orphaned=True)
    EntitlementFactory(identity=orphan, tool=ToolFactory(key="jira.read_issue"))

    _, run = _launch(cast, fallback_group=group)
    tasks.launch_campaign_run(str(run.uuid))
    items = _items(run)
    assert (items["human"].reviewer, items["human"].routed_via) == (cast.manager, "manager")
    assert (items["granted"].reviewer, items["granted"].routed_via) == (cast.manager, "manager")
    assert (items["orphan"].reviewer, items["orphan"].routed_via) == (fallback, "fallback")
    assert "orphaned" in items["orphan"].reasons and items["orphan"].recommendation == "revoke"
    assert items["human"].holder_person == person


def test_nobody_to_route_to_leaves_an_item_unrouted_and_a_rule_pointing_at_nobody_is_refused(cast, estate):
    Profile.objects.filter(user=cast.identity_owner).update(manager=None)
    Profile.objects.filter(user=cast.identity_owner).update(status="departed")
    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_create(actor=cast.compliance_officer, name="nobody")
    assert refused.value.message_dict == {"reviewer_rule": [campaigns.ERR_NOBODY_ROUTED]}
    assert not CampaignRun.objects.exists()


def test_agentiams_own_administrators_are_reviewed_by_their_manager(cast, estate):
    Profile.objects.filter(user=cast.administrator).update(manager=cast.manager)
    _, run = _launch(cast, include_entitlements=False, privileged_roles=["administrator"])
    tasks.launch_campaign_run(str(run.uuid))
    item = ReviewItem.objects.get(run=run)
    assert (item.role_holder, item.role, item.reviewer, item.routed_via) == (
        cast.administrator, "administrator", cast.manager, "manager")  # fmt: skip
    assert item.recommendation == "revoke" and "never signed in" in item.reason
    assert run.__class__.objects.get(pk=run.pk).counts["role_holdings"] == 1


def test_unused_and_outside_filters_narrow_the_set(cast, estate):
    _, run = _launch(cast, unused_days=60)
    tasks.launch_campaign_run(str(run.uuid))
    assert set(_items(run)) == {"idle", "outside"}  # outside never used github.push, which the log covers
    campaign = campaigns.campaign_create(actor=cast.compliance_officer, name="outside", outside_acceptable_use=True)
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    tasks.launch_campaign_run(str(run.uuid))
    assert set(_items(run)) == {"outside"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_launching_the_same_run_at_once_create_each_item_once(cast, estate):
    """Duplicate delivery for real: two threads, two connections, batches of one entry, racing on the run."""
    import threading

    from django.db import connection

    _, run = _launch(cast)
    errors = []

    def work():
        try:
            while launching.run_extract(run_id=run.pk) or launching.run_batch(run_id=run.pk, size=1):
                pass
            launching.run_open(run_id=run.pk)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    run.refresh_from_db()
    assert run.state == "open" and run.batches == 4
    assert ReviewItem.objects.filter(run=run).count() == 4 == CampaignScopeEntry.objects.filter(run=run).count()
