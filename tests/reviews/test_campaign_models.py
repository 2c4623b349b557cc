"""What the database refuses for review campaigns on its own, whatever code writes the rows (rows written
directly with the factories): one item per entitlement per run and stage; nobody reviews access they hold or
requested, nor — independent — granted; copies that lie about the entitlement; a decision changed after it
is final or signed off; anything returning to pending; a run's snapshot rewritten or a closed run changed."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from reviews.models import CampaignRun, CampaignScopeEntry, ReviewItem
from tests.factories import (
    CampaignFactory,
    CampaignRunFactory,
    CampaignStageFactory,
    ElevationRequestFactory,
    EntitlementFactory,
    GrantFactory,
    IdentityFactory,
    JitEntitlementFactory,
    OwnershipFactory,
    ReviewItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def refused(error=IntegrityError):
    class Refused:
        def __enter__(self):
            self.raises = pytest.raises(error)
            self.raises.__enter__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()

        def __exit__(self, *exc):
            self.atomic.__exit__(*exc)
            return self.raises.__exit__(*exc)

    return Refused()


def _decide(item, **fields):
    values = {"state": "decided", "decision": "certify", "decided_via": "reviewer", "decided_by": item.reviewer,
              "decided_at": timezone.now(), **fields}  # fmt: skip
    ReviewItem.objects.filter(pk=item.pk).update(**values)
    item.refresh_from_db()
    return item


def test_an_entitlement_is_reviewed_once_per_run_and_stage():
    item = ReviewItemFactory()
    with refused():
        ReviewItemFactory(run=item.run, entitlement=item.entitlement)
    with refused():  # a later stage reviews only what the stage before kept
        ReviewItemFactory(run=item.run, entitlement=item.entitlement, stage=2, seq=item.seq)
    type(item).objects.filter(pk=item.pk).update(state="decided", decision="certify", decided_via="reviewer",
                                                 decided_by=item.reviewer, decided_at=item.due_at)  # fmt: skip
    with refused():  # naming who kept it
        ReviewItemFactory(run=item.run, entitlement=item.entitlement, stage=2, seq=item.seq)
    # A second stage may review it again.
    ReviewItemFactory(run=item.run, entitlement=item.entitlement, stage=2, seq=item.seq, prior_decided_by=item.reviewer)
    ReviewItemFactory(entitlement=item.entitlement)  # and another run


def test_nobody_reviews_access_they_hold():
    person = UserFactory()
    entitlement = EntitlementFactory(identity=IdentityFactory(kind="human", person=person))
    with refused():
        ReviewItemFactory(entitlement=entitlement, reviewer=person)
    ReviewItemFactory(entitlement=entitlement)


def test_nobody_reviews_access_they_requested():
    request = ElevationRequestFactory()
    grant = GrantFactory(identity=request.identity, task=request.task)
    type(request).objects.filter(pk=request.pk).update(state="approved", grant=grant)
    entitlement = JitEntitlementFactory(identity=request.identity, grant=grant)
    with refused():
        ReviewItemFactory(entitlement=entitlement, requested_by=request.requested_by, reviewer=request.requested_by)
    ReviewItemFactory(entitlement=entitlement, requested_by=request.requested_by)


def test_in_an_independent_item_the_granter_may_not_review_but_elsewhere_may():
    granter = UserFactory()
    write = EntitlementFactory(action="write", granted_by=granter)
    with refused():
        ReviewItemFactory(entitlement=write, reviewer=granter)
    read = EntitlementFactory(action="read", granted_by=granter)
    ReviewItemFactory(entitlement=read, reviewer=granter)  # not independent for read under the default


def test_copies_that_lie_about_the_entitlement_are_refused_set_wise():
    holder = UserFactory()
    entitlement = EntitlementFactory(identity=IdentityFactory(kind="human", person=holder), action="write")
    with refused():  # the holder left out so the CHECK would pass
        ReviewItemFactory(entitlement=entitlement, holder_person=None, reviewer=holder)
    with refused():  # the granter left out of an independent item
        ReviewItemFactory(entitlement=EntitlementFactory(action="admin", granted_by=UserFactory()), granted_by=None)
    with refused():  # independence switched off against the run's definition
        ReviewItemFactory(entitlement=EntitlementFactory(action="write"), independent=False)
    with refused():  # another identity than the entitlement's
        ReviewItemFactory(entitlement=EntitlementFactory(), identity=IdentityFactory())
    run = CampaignRunFactory(definition={"independent_reviewer": "off"})
    ReviewItemFactory(run=run, entitlement=EntitlementFactory(action="write"), independent=False)


def test_a_reassignment_to_the_holder_is_refused_by_the_database():
    person = UserFactory()
    item = ReviewItemFactory(entitlement=EntitlementFactory(identity=IdentityFactory(kind="human", person=person)))
    with refused():
        ReviewItem.objects.filter(pk=item.pk).update(reviewer=person, routed_via="reassigned")


def test_what_an_item_was_launched_with_never_changes():
    item = ReviewItemFactory()
    for change in ({"recommendation": "revoke"}, {"evidence": {"last_used_at": None}}, {"granted_by": UserFactory()},
                   {"entitlement": EntitlementFactory()}, {"stage": 2}):  # fmt: skip
        with refused(DatabaseError):
            ReviewItem.objects.filter(pk=item.pk).update(**change)
    with refused(DatabaseError):
        ReviewItem.objects.filter(pk=item.pk).delete()


def test_a_certify_may_change_until_sign_off_and_a_revoke_never():
    item = _decide(ReviewItemFactory())
    _decide(item, decision="revoke", fulfilment_status="pending")  # certify → revoke before sign-off
    with refused(DatabaseError):
        _decide(item, decision="certify", fulfilment_status="")
    with refused(DatabaseError):
        ReviewItem.objects.filter(pk=item.pk).update(state="pending", decision="", decided_via="", decided_at=None)

    signed = _decide(ReviewItemFactory())
    ReviewItem.objects.filter(pk=signed.pk).update(signed_off_at=timezone.now())
    with refused(DatabaseError):
        _decide(signed, decision="revoke", fulfilment_status="pending")
    with refused(DatabaseError):
        ReviewItem.objects.filter(pk=signed.pk).update(comment="changed my mind")


def test_only_a_pending_item_changes_reviewer_and_the_decider_is_its_reviewer():
    item = ReviewItemFactory()
    co_owner = OwnershipFactory(identity=item.identity, role="technical").person  # one the owner rule names
    ReviewItem.objects.filter(pk=item.pk).update(
        reviewer=co_owner, routed_via="reassigned", reassigned_from=item.reviewer
    )
    with refused():
        _decide(ReviewItemFactory(), decided_by=UserFactory())
    decided = _decide(ReviewItemFactory())
    with refused(DatabaseError):
        ReviewItem.objects.filter(pk=decided.pk).update(reviewer=UserFactory(), routed_via="reassigned")


def test_states_say_what_they_imply():
    item = ReviewItemFactory()
    with refused():  # decided without a decision
        ReviewItem.objects.filter(pk=item.pk).update(state="decided", decided_at=timezone.now())
    with refused():  # a revoke fulfilled before its fulfilment is done
        _decide(ReviewItemFactory(), decision="revoke", state="fulfilled", fulfilment_status="pending")
    with refused():  # a reduce that says neither how nor "JIT only"
        _decide(ReviewItemFactory(), decision="reduce")
    with refused():  # no reviewer but said to be routed
        ReviewItemFactory(reviewer=None)
    ReviewItemFactory(reviewer=None, routed_via="unrouted")
    elsewhere = ReviewItemFactory()
    ReviewItem.objects.filter(pk=elsewhere.pk).update(
        state="fulfilled", decided_via="elsewhere", decided_at=timezone.now()
    )


def test_a_role_holding_item_names_its_holder_and_nobody_reviews_their_own_role():
    admin = UserFactory()
    run = CampaignRunFactory()
    with refused():
        ReviewItemFactory(run=run, entitlement=None, identity=None, holder_person=admin, granted_by=None,
                          independent=False, role_holder=admin, role="administrator", reviewer=admin)  # fmt: skip
    ReviewItemFactory(run=run, entitlement=None, identity=None, holder_person=admin, granted_by=None,
                      independent=False, role_holder=admin, role="administrator")  # fmt: skip
    with refused():
        ReviewItemFactory(run=run, entitlement=None, identity=None, holder_person=admin, granted_by=None,
                          independent=False, role_holder=admin, role="administrator")  # fmt: skip


def test_a_runs_snapshot_never_changes_and_a_closed_run_is_frozen():
    run = CampaignRunFactory()
    now = timezone.now()
    CampaignRun.objects.filter(pk=run.pk).update(extracted_at=now, total=2, counts={"entries": 2}, processed=1)
    with refused(DatabaseError):
        CampaignRun.objects.filter(pk=run.pk).update(total=3)
    with refused(DatabaseError):
        CampaignRun.objects.filter(pk=run.pk).update(processed=0)
    with refused():  # open before every entry has its item
        CampaignRun.objects.filter(pk=run.pk).update(state="open", opened_at=now, item_digest="a" * 64)
    CampaignRun.objects.filter(pk=run.pk).update(processed=2, state="open", opened_at=now, item_digest="a" * 64)
    with refused(DatabaseError):
        CampaignRun.objects.filter(pk=run.pk).update(item_digest="b" * 64)
    with refused():  # closed without sign-off
        CampaignRun.objects.filter(pk=run.pk).update(state="closed")
    CampaignRun.objects.filter(pk=run.pk).update(
        state="closed", signed_off_by=UserFactory(), signed_off_at=now, report={"items": 2}
    )
    with refused(DatabaseError):
        CampaignRun.objects.filter(pk=run.pk).update(report={"items": 0})
    with refused(DatabaseError):
        CampaignRun.objects.filter(pk=run.pk).delete()


def test_one_launch_at_a_time_and_scope_entries_name_one_subject():
    run = CampaignRunFactory()
    with refused():
        CampaignRunFactory(campaign=run.campaign)
    with refused():
        CampaignScopeEntry.objects.create(run=run, seq=1)
    CampaignScopeEntry.objects.create(run=run, seq=1, entitlement=EntitlementFactory())
    with refused():
        CampaignScopeEntry.objects.create(run=run, seq=1, entitlement=EntitlementFactory())


def test_rows_naming_a_run_or_an_entitlement_that_does_not_exist_are_refused_without_foreign_keys():
    """A launch's run and entitlement columns carry no foreign key (reviews 0010): the statement triggers check
    each inserted set instead."""
    item = ReviewItemFactory()
    missing = 2_000_000_000
    fields = {f.attname: getattr(item, f.attname) for f in ReviewItem._meta.concrete_fields if f.name not in ("id",
              "uuid")}  # fmt: skip
    for change in ({"run_id": missing}, {"entitlement_id": missing}):
        with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic():
            ReviewItem.objects.create(**{**fields, **change, "seq": item.seq + 1})
    run = CampaignRunFactory()
    for values in ((missing, EntitlementFactory().pk), (run.pk, missing)):
        with pytest.raises(IntegrityError, match="does not exist"), transaction.atomic():
            CampaignScopeEntry.objects.create(run_id=values[0], seq=1, entitlement_id=values[1])
    CampaignScopeEntry.objects.create(run=run, seq=1, entitlement=item.entitlement)


def test_a_definition_is_coherent():
    with refused():
        CampaignFactory(recurrence="cron", cron="")
    with refused():
        CampaignFactory(recurrence="once", cron="0 6 1 */3 *")
    with refused():
        CampaignFactory(reviewer_rule="fallback", fallback_group=None)
    with refused():
        CampaignFactory(include_entitlements=False, privileged_roles=[])
    with refused():
        CampaignFactory(unused_days=0)
    campaign = CampaignFactory(recurrence="cron", cron="0 6 1 */3 *", timezone="Europe/Paris")
    with refused():
        CampaignStageFactory(campaign=campaign, number=2, selects="all")
    with refused():
        CampaignStageFactory(campaign=campaign, number=4, selects="keeps")
    CampaignStageFactory(campaign=campaign, number=2, selects="keeps_high", reviewer_rule="manager")
    assert list(campaign.stages.values_list("number", flat=True)) == [1, 2]
