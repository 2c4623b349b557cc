"""JIT elevation: requests, approvals, approval rules, delegations and eligibility.

Bare rows, written straight to the database: no audit entry, no routing. Use reviews.services when a test is
about behaviour; use these to fill a list or to write a row the services would refuse (database checks)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from tests.factories.people import UserFactory
from tests.factories.registry import GrantFactory, IdentityFactory, TaskFactory, ToolFactory


def _now():
    return timezone.now()


class ApprovalRuleFactory(factory.django.DjangoModelFactory):
    """An enabled rule for anything: one approver, at most an hour."""

    class Meta:
        model = "reviews.ApprovalRule"

    name = factory.Sequence(lambda n: f"rule-{n}")
    priority = factory.Sequence(lambda n: 1000 + n)
    approvals_needed = 1
    max_duration_seconds = 3600


class ElevationRequestFactory(factory.django.DjangoModelFactory):
    """A pending request by a person for write on one tool, for a task of the same identity."""

    class Meta:
        model = "reviews.ElevationRequest"

    identity = factory.SubFactory(IdentityFactory)
    task = factory.SubFactory(TaskFactory, identity=factory.SelfAttribute("..identity"))
    scopes = factory.Sequence(lambda n: [f"tool-{n}.run:write"])
    justification = "incident follow-up"
    duration_seconds = 3600
    requested_by = factory.SubFactory(UserFactory)
    digest = "0" * 64
    approvals_needed = 1
    expires_at = factory.LazyFunction(lambda: _now() + timedelta(hours=24))


class ApprovalFactory(factory.django.DjangoModelFactory):
    """An approval by a new person (the request's requester copied, as the services write it)."""

    class Meta:
        model = "reviews.Approval"

    request = factory.SubFactory(ElevationRequestFactory)
    approver = factory.SubFactory(UserFactory)
    requester = factory.SelfAttribute("request.requested_by")
    decision = "approve"


class DelegationFactory(factory.django.DjangoModelFactory):
    """A week's delegation from one new person to another, starting now."""

    class Meta:
        model = "reviews.Delegation"

    approver = factory.SubFactory(UserFactory)
    delegate = factory.SubFactory(UserFactory)
    starts_at = factory.LazyFunction(_now)
    ends_at = factory.LazyAttribute(lambda row: row.starts_at + timedelta(days=7))


class EligibilityFactory(factory.django.DjangoModelFactory):
    """An identity made eligible to ask for write on a new tool, from now on."""

    class Meta:
        model = "reviews.Eligibility"

    identity = factory.SubFactory(IdentityFactory)
    tool = factory.SubFactory(ToolFactory, actions=["read", "write"])
    action = "write"
    valid_from = factory.LazyFunction(_now)
    made_eligible_by = factory.SubFactory(UserFactory)


class BreakGlassFactory(factory.django.DjangoModelFactory):
    """An open break-glass by a new person: a grant of the next hour on a task of a new identity."""

    class Meta:
        model = "reviews.BreakGlass"

    identity = factory.SubFactory(IdentityFactory)
    task = factory.SubFactory(TaskFactory, identity=factory.SelfAttribute("..identity"))
    grant = factory.SubFactory(
        GrantFactory, identity=factory.SelfAttribute("..identity"), task=factory.SelfAttribute("..task")
    )
    person = factory.SubFactory(UserFactory)
    scopes = factory.Sequence(lambda n: [f"tool-{n}.run:write"])
    reason = "production is down"
    started_at = factory.SelfAttribute("grant.starts_at")
    ends_at = factory.SelfAttribute("grant.ends_at")


class ApprovalRuleChangeFactory(factory.django.DjangoModelFactory):
    """A proposal by a new person to create a one-approver rule."""

    class Meta:
        model = "reviews.ApprovalRuleChange"

    kind = "create"
    fields = factory.Sequence(lambda n: {"name": f"proposed-{n}", "priority": 5000 + n, "max_duration_seconds": 3600})
    reason = "tighten"
    proposed_by = factory.SubFactory(UserFactory)


class CampaignFactory(factory.django.DjangoModelFactory):
    """A one-off campaign over every entitlement, reviewed by accountable owners, with its first stage."""

    class Meta:
        model = "reviews.Campaign"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"campaign-{n}")
    created_by = factory.SubFactory(UserFactory)
    stage = factory.RelatedFactory("tests.factories.reviews.CampaignStageFactory", factory_related_name="campaign")


class CampaignStageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "reviews.CampaignStage"

    campaign = factory.SubFactory(CampaignFactory, stage=None)
    number = 1


class CampaignRunFactory(factory.django.DjangoModelFactory):
    """A run still launching (nothing fixed yet), with the campaign's definition frozen as the default one."""

    class Meta:
        model = "reviews.CampaignRun"

    campaign = factory.SubFactory(CampaignFactory)
    number = factory.Sequence(lambda n: n + 1)
    launched_at = factory.LazyFunction(_now)
    definition = factory.LazyFunction(lambda: {"independent_reviewer": "privileged"})


class ReviewItemFactory(factory.django.DjangoModelFactory):
    """A pending stage-1 item on a new standing read entitlement, routed to a new person (its owner), with the
    copies of holder, requester and granter its entitlement implies (as the launch writes them)."""

    class Meta:
        model = "reviews.ReviewItem"

    run = factory.SubFactory(CampaignRunFactory)
    seq = factory.Sequence(lambda n: n + 1)
    entitlement = factory.SubFactory("tests.factories.registry.EntitlementFactory")
    identity = factory.SelfAttribute("entitlement.identity")
    holder_person = factory.SelfAttribute("entitlement.identity.person")
    granted_by = factory.SelfAttribute("entitlement.granted_by")
    independent = factory.LazyAttribute(lambda item: item.entitlement.action != "read")
    reviewer = factory.SubFactory(UserFactory)
    routed_via = "owner"
    due_at = factory.LazyFunction(lambda: _now() + timedelta(days=14))
    recommendation = "none"


class CampaignScopeEntryFactory(factory.django.DjangoModelFactory):
    """Entry `seq` of a run's set: a new standing read entitlement."""

    class Meta:
        model = "reviews.CampaignScopeEntry"

    run = factory.SubFactory(CampaignRunFactory)
    seq = factory.Sequence(lambda n: n + 1)
    entitlement = factory.SubFactory("tests.factories.registry.EntitlementFactory")


class ReviewerSignOffFactory(factory.django.DjangoModelFactory):
    """A new person's sign-off of stage 1 of a new run, covering no items."""

    class Meta:
        model = "reviews.ReviewerSignOff"

    run = factory.SubFactory(CampaignRunFactory)
    reviewer = factory.SubFactory(UserFactory)
    signed_off_at = factory.LazyFunction(_now)
    items = 0


class ReviewReminderFactory(factory.django.DjangoModelFactory):
    """The first reminder digest to a new person for a new run."""

    class Meta:
        model = "reviews.ReviewReminder"

    run = factory.SubFactory(CampaignRunFactory)
    reviewer = factory.SubFactory(UserFactory)
    kind = "reminder"
    items = 1
    sent_at = factory.LazyFunction(_now)
