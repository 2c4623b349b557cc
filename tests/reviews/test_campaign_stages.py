"""A campaign's second stage (the manager confirms the owners' keeps of high/critical items), end to end on a real
launch: items move on at the owner's sign-off or at the stage-1 deadline (after its no-answer outcome), the run
moves with them, the stage-2 reviewer decides them in "My reviews" and the API, its own no-answer outcome and
reminders apply at its own deadline, and the compliance officer's sign-off waits for it. Separation of duties as
in stage 1, plus: nobody confirms their own keep (service, routing and the database). Every cadence step runs
twice (a duplicate delivery, a second beat): nothing moves or is revoked twice."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from agentiam import outbox
from agentiam.errors import Conflict
from agentiam.models import OutboxMessage
from audit.models import AuditEntry
from identities.models import Entitlement, Identity
from reviews import attest_reading as reading
from reviews import tasks
from reviews.models import CampaignRun, ReviewItem, ReviewReminder
from reviews.services import attest, campaigns
from reviews.services.cadence import campaigns_tick
from reviews.services.fulfilment import KIND
from reviews.services.signoff import ERR_SIGN_NEXT_STAGE, campaign_run_sign_off
from tests.cast import check_access, make_person
from tests.factories import EntitlementFactory, IdentityFactory, OwnershipFactory
from tests.reviews.campaign_estate import estate as estate  # the fixture

pytestmark = pytest.mark.django_db

SECOND = {"reviewer_rule": "manager", "selects": "keeps_high", "duration_days": 7, "no_answer_outcome": "revoke"}


def _launch(cast, *, second=None, **definition) -> CampaignRun:
    stages = [{"duration_days": 14, "no_answer_outcome": "keep"}, {**SECOND, **(second or {})}]
    campaign = campaigns.campaign_create(actor=cast.compliance_officer, name="Two-stage agents", stages=stages,
                                         identity_kinds=["agent"], **definition)  # fmt: skip
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    assert tasks.launch_campaign_run(str(run.uuid)) == "open"
    run.refresh_from_db()
    return run


def _items(run, stage=1) -> dict[str, ReviewItem]:
    rows = ReviewItem.objects.filter(run=run, stage=stage).select_related("identity", "run")
    return {item.identity.name: item for item in rows}


@pytest.fixture
def high(estate):
    """`used` and `dark` are high-risk agents, `outside` critical; `idle` stays low."""
    agents, _ = estate
    Identity.objects.filter(pk__in=[agents["used"].pk, agents["dark"].pk]).update(risk_tier="high")
    Identity.objects.filter(pk=agents["outside"].pk).update(risk_tier="critical")
    return estate


def test_the_owners_keeps_of_high_items_move_to_their_manager_at_sign_off(cast, high, client_factory):
    _, ents = high
    owner, manager = cast.identity_owner, cast.manager
    run = _launch(cast)
    first = _items(run)
    stage_one_due = run.due_at
    attest.review_item_decide(item=first["used"], actor=owner, decision="certify", comment="still triaging")
    attest.review_item_decide(item=first["dark"], actor=owner, decision="certify", comment="needed")
    attest.review_item_decide(item=first["idle"], actor=owner, decision="revoke")
    attest.review_item_decide(item=first["outside"], actor=owner, decision="revoke")
    assert not ReviewItem.objects.filter(run=run, stage=2).exists()  # a certify may still change: nothing moves

    attest.review_signoff(run=run, actor=owner)
    second = _items(run, 2)
    assert set(second) == {"used", "dark"}  # kept and high: the revokes and the low-risk item stay behind
    for item in second.values():
        assert (item.reviewer_id, item.routed_via, item.prior_decided_by_id) == (manager.pk, "manager", owner.pk)
        assert item.state == "pending" and item.due_at == stage_one_due + timedelta(days=7)
        assert item.entitlement_id == first[item.identity.name].entitlement_id and item.seq == first[
            item.identity.name].seq  # fmt: skip
    assert second["used"].evidence["previous_stage"]["comment"] == "still triaging"
    assert second["used"].evidence["previous_stage"]["decided_by"] == owner.pk
    # Nothing of stage 1 can change any more (every item final or signed off): the run moved on with them.
    run.refresh_from_db()
    assert (run.stage, run.due_at) == (2, stage_one_due + timedelta(days=7))
    signed = AuditEntry.objects.get(action="review.sign_off", object_id=str(run.uuid))
    assert signed.changes["moved_to_next_stage"] == 2 and signed.changes["run_advanced"]["to_stage"] == 2
    # The manager is told once, and sees them in My reviews; the owner does not.
    assert ReviewReminder.objects.filter(run=run, stage=2, reviewer=manager, kind="launch").count() == 1
    assert set(reading.items_to_review(manager)) == set(second.values())
    assert not reading.items_to_review(owner).exists()
    page = client_factory(manager).get(reverse("reviews:my_reviews")).content.decode()
    assert "Stage 2" in page and "Kept in stage 1 by" in page and "still triaging" in page
    with pytest.raises(Conflict):  # the owner's certify is final now
        attest.review_item_decide(item=first["used"], actor=owner, decision="revoke")

    campaigns_tick()
    campaigns_tick()  # a duplicate delivery moves nothing twice
    assert ReviewItem.objects.filter(run=run, stage=2).count() == 2
    with pytest.raises(Conflict) as refused:  # stage 2 still waits for the manager
        campaign_run_sign_off(run=run, actor=cast.compliance_officer)
    assert "wait for a decision" in str(refused.value)

    attest.review_item_decide(item=second["used"], actor=manager, decision="certify", comment="confirmed")
    attest.review_item_decide(item=second["dark"], actor=manager, decision="revoke", comment="not needed")
    outbox.deliver_due()
    assert Entitlement.objects.get(pk=ents["dark"].pk).revoked_at is not None
    assert Entitlement.objects.get(pk=ents["used"].pk).revoked_at is None
    assert ReviewItem.objects.get(pk=second["dark"].pk).fulfilment_status == "done"
    attest.review_signoff(run=run, actor=manager)
    closed = campaign_run_sign_off(run=run, actor=cast.compliance_officer)
    stages = sorted((row["stage"], row["identity"]) for row in closed.report["items"])
    assert stages == [(1, "dark"), (1, "idle"), (1, "outside"), (1, "used"), (2, "dark"), (2, "used")]


def test_at_the_stage_one_deadline_the_keeps_move_on_once_and_stage_two_applies_its_own_outcome(cast, high):
    owner, manager = cast.identity_owner, cast.manager
    run = _launch(cast, reminder_days=[3])
    first = _items(run)
    stage_one_due = run.due_at
    attest.review_item_decide(item=first["used"], actor=owner, decision="certify", comment="needed")  # never signed off
    attest.review_item_decide(item=first["idle"], actor=owner, decision="revoke")
    # `dark` and `outside` nobody answers: stage 1 keeps them (its no-answer outcome)

    after = stage_one_due + timedelta(hours=1)
    campaigns_tick(now=after)
    campaigns_tick(now=after)
    assert ReviewItem.objects.get(pk=first["dark"].pk).decided_via == "no_answer"
    second = _items(run, 2)
    assert set(second) == {"used", "dark", "outside"}  # the no-answer keeps too: nobody looked at them
    assert second["used"].prior_decided_by_id == owner.pk and second["dark"].prior_decided_by_id is None
    assert {item.reviewer_id for item in second.values()} == {manager.pk}
    run.refresh_from_db()
    assert (run.stage, run.stage_started_at, run.due_at) == (2, stage_one_due, stage_one_due + timedelta(days=7))
    ticks = AuditEntry.objects.filter(action="campaign_run.cadence", object_id=str(run.uuid))
    moves = [entry.changes["stage"] for entry in ticks if "stage" in entry.changes]
    assert len(moves) == 1 and moves[0]["items_moved"] == 3 and moves[0]["why"] == "deadline"
    # Stage 1 is over: the owner's certify no longer changes, in the service and in the database.
    with pytest.raises(Conflict):
        attest.review_item_decide(item=first["used"], actor=owner, decision="revoke")
    with pytest.raises(Exception, match="stage is over"), transaction.atomic():
        ReviewItem.objects.filter(pk=first["used"].pk).update(decision="revoke", fulfilment_status="pending")

    # Stage 2's reminder (3 days before its deadline): one digest to the manager, once.
    mail.outbox.clear()
    remind = run.due_at - timedelta(days=2)
    campaigns_tick(now=remind)
    campaigns_tick(now=remind)
    outbox.deliver_due()
    assert [m.to for m in mail.outbox if "Reminder" in m.subject] == [[manager.email]]
    assert ReviewReminder.objects.filter(run=run, stage=2, kind="reminder", reviewer=manager).count() == 1

    # The manager confirms one; at stage 2's deadline the rest are revoked (its outcome), exactly once.
    attest.review_item_decide(item=second["used"], actor=manager, decision="certify", comment="needed")
    late = run.due_at + timedelta(minutes=5)
    campaigns_tick(now=late)
    campaigns_tick(now=late)
    revoked = ReviewItem.objects.filter(run=run, stage=2, decided_via="no_answer")
    assert sorted(item.identity.name for item in revoked) == ["dark", "outside"]
    assert set(revoked.values_list("decision", flat=True)) == {"revoke"}
    handed = [key for row in OutboxMessage.objects.filter(kind=KIND) for key in row.payload["items"]]
    assert sorted(key for key in handed if key in {str(i.uuid) for i in revoked}) == sorted(
        str(i.uuid) for i in revoked)  # each once  # fmt: skip
    outbox.deliver_due()
    outbox.deliver_due()
    for item in revoked:
        assert Entitlement.objects.get(pk=item.entitlement_id).revoked_at is not None
    run.refresh_from_db()
    assert run.stage == 2  # no third stage: the run stays, ready for the compliance officer


def test_the_compliance_officer_waits_for_keeps_that_have_not_reached_stage_two(cast, high):
    run = _launch(cast)
    first = _items(run)
    for name in ("used", "dark"):
        attest.review_item_decide(item=first[name], actor=cast.identity_owner, decision="certify", comment="needed")
    for name in ("idle", "outside"):
        attest.review_item_decide(item=first[name], actor=cast.identity_owner, decision="revoke")
    outbox.deliver_due()
    with pytest.raises(Conflict) as refused:
        campaign_run_sign_off(run=run, actor=cast.compliance_officer)
    assert str(refused.value) == ERR_SIGN_NEXT_STAGE.format(count=2, stage=2)
    assert not CampaignRun.objects.filter(pk=run.pk, state="closed").exists()


def test_nobody_confirms_their_own_keep(cast, high):
    """Both stages reviewed by the fallback group: the member who kept an item never gets it in stage 2, nor by
    reassignment; the database refuses it as well."""
    keeper = make_person("keeper", "identity_owner")
    other = make_person("other-reviewer", "identity_owner")
    group = Group.objects.create(name="access reviewers")
    group.user_set.add(keeper, other)
    run = _launch(cast, reviewer_rule="fallback", fallback_group=group,
                  second={"reviewer_rule": "fallback", "selects": "keeps"})  # fmt: skip
    first = _items(run)
    item = first["used"]
    assert item.reviewer_id == keeper.pk and item.routed_via == "fallback"
    attest.review_item_decide(item=item, actor=keeper, decision="certify", comment="needed")
    for name in ("idle", "dark", "outside"):
        attest.review_item_decide(item=first[name], actor=keeper, decision="revoke")
    attest.review_signoff(run=run, actor=keeper)
    moved = ReviewItem.objects.get(run=run, stage=2, seq=item.seq)
    assert (moved.reviewer_id, moved.prior_decided_by_id) == (other.pk, keeper.pk)
    with pytest.raises(Exception) as refused:
        attest.review_item_decide(item=moved, actor=other, decision="reassign", reassign_to=keeper, note="yours")
    assert "own keep" in str(refused.value)
    with pytest.raises(IntegrityError, match="reviews_item_reviewer_not_prior"), transaction.atomic():
        ReviewItem.objects.filter(pk=moved.pk).update(reviewer=keeper, reassigned_from=other)
    # A later-stage item for something stage 1 revoked is refused by the database.
    revoked = first["idle"]
    with pytest.raises(IntegrityError, match="only what the stage before kept"), transaction.atomic():
        ReviewItem.objects.create(
            run=run, stage=2, seq=revoked.seq, entitlement_id=revoked.entitlement_id,
            identity_id=revoked.identity_id, granted_by_id=revoked.granted_by_id, independent=revoked.independent,
            reviewer=other, routed_via="fallback", due_at=run.due_at, recommendation="keep",
        )  # fmt: skip


def test_the_stage_two_api_is_the_stage_two_reviewers(cast, high, client_factory):
    bob = make_person("bob", "identity_owner")
    bobs = IdentityFactory(name="bobs", is_orphaned=False)
    OwnershipFactory(identity=bobs, person=bob, valid_from=timezone.now() - timedelta(days=30))
    EntitlementFactory(identity=bobs)
    run = _launch(cast)
    first = _items(run)
    attest.review_item_decide(item=first["used"], actor=cast.identity_owner, decision="certify", comment="needed")
    for name in ("idle", "dark", "outside"):
        attest.review_item_decide(item=first[name], actor=cast.identity_owner, decision="revoke")
    attest.review_signoff(run=run, actor=cast.identity_owner)  # bob's item waits: the run stays in stage 1
    assert CampaignRun.objects.get(pk=run.pk).stage == 1
    moved = ReviewItem.objects.get(run=run, stage=2)
    other_manager = make_person("other-manager", "manager")
    url = f"/api/v1/review-items/{moved.uuid}/decide/"
    body = {"decision": "certify", "comment": "needed"}
    seen = check_access(client_factory, url, cast=cast, method="post", data=body,
                        allowed=["manager"], expect_allowed=(200,), object_denied=[other_manager])  # fmt: skip
    assert seen["identity_owner"] in (403, 404)  # the owner kept it: it is not theirs to confirm
    decided = ReviewItem.objects.get(pk=moved.pk)
    assert (decided.decision, decided.decided_by_id) == ("certify", cast.manager.pk)
    listed = client_factory(cast.manager).get("/api/v1/review-items/", {"reviewer": "me"}).json()["results"]
    assert [(row["id"], row["stage"]) for row in listed] == [(str(moved.uuid), 2)]
    # Signing off stage 2 waits for the stage to start: items may still reach the manager.
    answer = client_factory(cast.manager).post("/api/v1/review-items/sign-off/", json.dumps({"run": str(run.uuid)}),
                                               content_type="application/json")  # fmt: skip
    assert answer.status_code == 409 and "Stage 2" in answer.json()["detail"]


def test_an_item_escalated_at_the_stage_one_deadline_moves_on_when_it_is_answered_late(cast, high):
    """Stage 1's no-answer outcome is escalate: at its deadline the unanswered items go one level up (the
    manager) and the run moves on; the manager's late keep is final at once and moves to stage 2 — to someone
    other than the manager, who kept it (here the fallback group's member)."""
    second = make_person("second-reviewer", "identity_owner")
    group = Group.objects.create(name="second line")
    group.user_set.add(second)
    stages = [{"duration_days": 14, "no_answer_outcome": "escalate"}, SECOND]
    campaign = campaigns.campaign_create(actor=cast.compliance_officer, name="Escalating", stages=stages,
                                         identity_kinds=["agent"], fallback_group=group)  # fmt: skip
    run = campaigns.campaign_launch(campaign=campaign, actor=cast.compliance_officer)
    assert tasks.launch_campaign_run(str(run.uuid)) == "open"
    run.refresh_from_db()
    first = _items(run)
    for name in ("idle", "outside", "dark"):
        attest.review_item_decide(item=first[name], actor=cast.identity_owner, decision="revoke")
    after = run.due_at + timedelta(hours=1)
    campaigns_tick(now=after)
    campaigns_tick(now=after)
    escalated = ReviewItem.objects.get(pk=first["used"].pk)
    assert (escalated.state, escalated.reviewer_id, escalated.routed_via) == ("pending", cast.manager.pk, "escalated")
    run.refresh_from_db()
    assert run.stage == 2 and not ReviewItem.objects.filter(run=run, stage=2).exists()
    assert escalated in reading.items_to_review(cast.manager)  # still waits for an answer in My reviews

    attest.review_item_decide(item=escalated, actor=cast.manager, decision="certify", comment="needed")
    moved = ReviewItem.objects.get(run=run, stage=2, seq=escalated.seq)
    assert (moved.reviewer_id, moved.prior_decided_by_id, moved.routed_via) == (second.pk, cast.manager.pk,
                                                                                "fallback")  # fmt: skip
    assert moved.due_at == run.due_at
    with pytest.raises(Conflict):  # its stage is over: the late keep is final
        attest.review_item_decide(item=escalated, actor=cast.manager, decision="revoke")
    entry = AuditEntry.objects.filter(action="review_item.certify", object_id=str(escalated.uuid)).get()
    assert entry.changes["moved_to_stage"] == 2
