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
