"""What the database refuses on its own, whatever code writes the rows (services bypassed: rows written
directly with the factories), and the default approval rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from identities.models import Grant
from reviews import seeds
from reviews.models import ApprovalRule, ElevationRequest
from tests.factories import (
    ApprovalFactory,
    ApprovalRuleFactory,
    DelegationFactory,
    ElevationRequestFactory,
    GrantFactory,
    IdentityFactory,
    OwnershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def refused(error=IntegrityError):
    """The write inside fails in the database (its own savepoint, so the test goes on)."""

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


def test_the_requester_cannot_approve_their_own_request():
    request = ElevationRequestFactory()
    with refused():
        ApprovalFactory(request=request, approver=request.requested_by)


def test_an_approval_that_lies_about_the_requester_is_refused():
    request = ElevationRequestFactory()
    with refused():
        ApprovalFactory(request=request, approver=request.requested_by, requester=None)
    with refused():
        ApprovalFactory(request=request, requester=UserFactory())


def test_an_owner_of_the_identity_cannot_approve():
    owner = OwnershipFactory().person
    request = ElevationRequestFactory(identity=owner.ownerships.get().identity)
    with refused():
        ApprovalFactory(request=request, approver=owner)
    ApprovalFactory(request=request)  # someone else may


def test_the_person_of_a_human_identity_cannot_approve_its_access():
    person = UserFactory()
    request = ElevationRequestFactory(identity=IdentityFactory(kind="human", person=person))
    with refused():
        ApprovalFactory(request=request, approver=person)


def test_a_delegate_who_is_the_requester_is_refused_too():
    delegation = DelegationFactory()
    request = ElevationRequestFactory(requested_by=delegation.delegate)
    with refused():
        ApprovalFactory(request=request, approver=delegation.delegate, on_behalf_of=delegation.approver)


def test_one_person_cannot_fill_both_slots_of_a_two_approver_request():
    request = ElevationRequestFactory(approvals_needed=2)
    first = ApprovalFactory(request=request)
    with refused():
        ApprovalFactory(request=request, approver=first.approver)
    ApprovalFactory(request=request)


def test_a_closed_request_takes_no_more_decisions_and_never_reopens():
    request = ElevationRequestFactory()
    ElevationRequest.objects.filter(pk=request.pk).update(state="denied")
    with refused():
        ApprovalFactory(request=request)
    with refused(DatabaseError):
        ElevationRequest.objects.filter(pk=request.pk).update(state="pending")
    with refused(DatabaseError):
        ElevationRequest.objects.filter(pk=request.pk).delete()


def test_approvals_are_never_changed_or_deleted():
    approval = ApprovalFactory()
    with refused(DatabaseError):
        type(approval).objects.filter(pk=approval.pk).update(decision="deny")
    with refused(DatabaseError):
        approval.delete()


def test_an_approved_request_points_to_its_grant_and_only_then():
    request = ElevationRequestFactory()
    with refused():
        ElevationRequest.objects.filter(pk=request.pk).update(state="approved")
    grant = GrantFactory(identity=request.identity, task=request.task)
    ElevationRequest.objects.filter(pk=request.pk).update(state="approved", grant=grant)


def test_a_request_has_a_requester_and_a_positive_duration():
    with refused():
        ElevationRequestFactory(requested_by=None)
    with refused():
        ElevationRequestFactory(duration_seconds=0)
    ElevationRequestFactory(requested_by=None, requested_by_identity=IdentityFactory())  # the agent itself


def test_one_pending_request_per_identity_task_and_scopes():
    request = ElevationRequestFactory()
    same = {"identity": request.identity, "task": request.task, "scopes": request.scopes}
    with refused():
        ElevationRequestFactory(**same)
    ElevationRequestFactory(**same, scope={"repo": "acme/*"})  # another scope object is another request
    ElevationRequest.objects.filter(pk=request.pk).update(state="withdrawn")
    ElevationRequestFactory(**same)


def test_an_auto_approval_is_never_long_lived_and_a_rule_needs_approvers_otherwise():
    with refused():
        ApprovalRuleFactory(auto_approve=True, approvals_needed=0, max_duration_seconds=8 * 3600)
    with refused():
        ApprovalRuleFactory(approvals_needed=0)
    with refused():
        ApprovalRuleFactory(approvals_needed=1, eligible_approvals=2)
    ApprovalRuleFactory(auto_approve=True, approvals_needed=0, max_duration_seconds=900)


def test_nobody_delegates_to_themselves():
    person = UserFactory()
    with refused():
        DelegationFactory(approver=person, delegate=person)
    with refused():
        DelegationFactory(ends_at=timezone.now() - timedelta(days=1))


def test_every_grant_has_a_task():
    with refused():
        GrantFactory(task=None)
    assert not Grant._meta.get_field("task").null


def test_the_default_rules_are_seeded_once():
    lines = seeds.demo(None)
    assert lines and ApprovalRule.objects.count() == len(seeds.DEFAULT_RULES)
    assert seeds.demo(None) == [] and ApprovalRule.objects.count() == len(seeds.DEFAULT_RULES)
    two = ApprovalRule.objects.filter(approvals_needed=2).values_list("name", flat=True)
    assert {"Production secrets: two approvers", "Critical identity: two approvers"} == set(two)
    auto = ApprovalRule.objects.get(auto_approve=True)
    assert (auto.action, auto.risk_tier, auto.max_duration_seconds) == ("read", "low", 1800)
