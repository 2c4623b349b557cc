"""Deciding elevation requests: separation of duties, routing and delegation, granting less, two approvers,
pinned inputs, expiry, and the grant's end (real database)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from agentiam.errors import Conflict
from agentiam.permissions import Role
from audit.models import AuditEntry
from identities import services as registry
from identities.models import Entitlement, Grant, Identity, Tool
from identities.runtime import services as runtime
from reviews import rules, services
from reviews.models import ApprovalRule, ElevationRequest
from reviews.services import decisions as messages
from tests.cast import make_person
from tests.factories import DelegationFactory, EligibilityFactory, EntitlementFactory, OwnershipFactory
from tests.reviews.support import READ, WRITE, ask

pytestmark = pytest.mark.django_db


def approve(made, actor, **extra):
    return services.request_approve(elevation_request=made, actor=actor, comment="ok", **extra)


def test_the_owners_manager_approves_and_a_task_bound_grant_starts_at_approval(estate):
    made = ask(estate)
    ElevationRequest.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(hours=2))
    approved = approve(made, estate.cast.manager)
    grant = approved.grant
    assert approved.state == "approved" and grant.task == made.task and grant.identity == estate.agent
    assert abs(grant.ends_at - (timezone.now() + timedelta(hours=1))) < timedelta(minutes=1)  # clock at approval
    (entitlement,) = Entitlement.objects.filter(grant=grant)
    assert (entitlement.tool, entitlement.action, entitlement.mode) == (estate.write, "write", "jit")
    assert AuditEntry.objects.filter(action="elevation_request.approve", object_id=str(made.uuid)).exists()
    assert approved.approvals.get().approver == estate.cast.manager


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("identity_owner", rules.ERR_REQUESTER),
        ("outsider", rules.ERR_APPROVER_ROLE),
        ("administrator", rules.ERR_APPROVER_ROLE),
        ("boss", messages.ERR_NOT_ROUTED),  # a manager, but the request routes to cast.manager
    ],
)
def test_who_may_not_approve(estate, who, reason):
    made = ask(estate)
    person = estate.boss if who == "boss" else estate.cast[who]
    with pytest.raises(PermissionDenied, match=re.escape(reason)):
        approve(made, person)
    with pytest.raises(PermissionDenied, match=re.escape(reason)):
        services.request_deny(elevation_request=made, actor=person)
    made.refresh_from_db()
    assert made.state == "pending" and not made.approvals.exists()


def test_a_manager_who_owns_the_identity_may_not_approve(estate):
    OwnershipFactory(identity=estate.agent, person=estate.cast.manager, role="technical")
    made = ask(estate)
    with pytest.raises(PermissionDenied, match=re.escape(rules.ERR_OWNER)):
        approve(made, estate.cast.manager)


def test_an_approver_grants_less_never_more(estate):
    made = ask(estate, scopes=[WRITE, READ], scope={"repo": "acme/*"})
    for extra, field in (
        ({"duration_seconds": 3601}, "duration_seconds"),
        ({"duration_seconds": 0}, "duration_seconds"),
        ({"scopes": ["github.read_repo:read"]}, "scopes"),
        ({"scope": {"repo": "**"}}, "scope"),
        ({"scope": {"branch": "main"}}, "scope"),
        ({"scope": {"Bad": "x"}}, "scope"),
    ):
        with pytest.raises(ValidationError) as refused:
            approve(made, estate.cast.manager, **extra)
        assert list(refused.value.message_dict) == [field], extra
    assert not made.approvals.exists()
    approved = approve(made, estate.cast.manager, duration_seconds=600, scopes=[READ], scope={"repo": "acme/api"})
    assert (approved.granted_scopes, approved.granted_scope, approved.granted_duration_seconds) == (
        [READ], {"repo": "acme/api"}, 600
    )  # fmt: skip
    (entitlement,) = Entitlement.objects.filter(grant=approved.grant)
    assert (entitlement.action, entitlement.scope) == ("read", {"repo": "acme/api"})
    assert approved.grant.ends_at <= timezone.now() + timedelta(seconds=600)


def test_a_critical_request_needs_two_distinct_approvers_the_second_routed_to_the_managers_manager(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    made = ask(estate, duration_seconds=1800)
    assert made.approvals_needed == 2
    # The two slots route to the owner's manager and, past them, the manager's manager: nobody else.
    with pytest.raises(PermissionDenied, match=re.escape(messages.ERR_NOT_ROUTED)):
        approve(made, make_person("stranger-manager", Role.MANAGER))
    first = approve(made, estate.cast.manager, duration_seconds=900)
    assert first.state == "pending" and first.grant is None
    with pytest.raises(PermissionDenied, match=re.escape(rules.ERR_ALREADY_DECIDED)):
        approve(made, estate.cast.manager)
    done = approve(made, estate.boss)
    assert done.state == "approved" and done.granted_duration_seconds == 900  # the narrowest of the two
    with pytest.raises(Conflict, match="approved"):
        approve(made, make_person("third", Role.MANAGER))
    assert Grant.objects.count() == 1


def test_an_away_manager_is_replaced_by_their_delegate(estate):
    deputy = make_person("deputy", Role.MANAGER)
    DelegationFactory(approver=estate.cast.manager, delegate=deputy)
    made = ask(estate)
    with pytest.raises(PermissionDenied, match=re.escape(messages.ERR_NOT_ROUTED)):
        approve(made, estate.cast.manager)
    approved = approve(made, deputy)
    assert approved.approvals.get().on_behalf_of == estate.cast.manager


def test_a_delegate_who_is_the_requester_is_skipped_for_the_managers_manager(estate):
    DelegationFactory(approver=estate.cast.manager, delegate=estate.cast.identity_owner)
    made = ask(estate)
    with pytest.raises(PermissionDenied, match=re.escape(rules.ERR_REQUESTER)):
        approve(made, estate.cast.identity_owner)
    assert approve(made, estate.boss).state == "approved"


def test_a_member_of_the_rules_approver_group_may_decide_without_the_manager_role(estate):
    group = Group.objects.create(name="payments-approvers")
    ApprovalRule.objects.filter(name="Medium and low identities: one approver").update(approver_group=group)
    member = make_person("approver-in-group")
    member.groups.add(group)
    made = ask(estate)
    assert approve(made, member).state == "approved"


def test_a_deny_is_final(estate):
    made = ask(estate)
    denied = services.request_deny(elevation_request=made, actor=estate.cast.manager, comment="not now")
    assert (denied.state, denied.closed_note) == ("denied", "not now")
    with pytest.raises(Conflict, match="denied"):
        approve(made, estate.cast.manager)
    assert not Grant.objects.exists()


def test_a_request_past_its_expiry_cannot_be_approved_even_before_the_sweep(estate):
    made = ask(estate)
    ElevationRequest.objects.filter(pk=made.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict, match="expired"):
        approve(made, estate.cast.manager)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda e: Tool.objects.filter(pk=e.write.pk).update(sensitivity="high"), "sensitivity changed"),
        (lambda e: Identity.objects.filter(pk=e.agent.pk).update(risk_tier="high"), "risk tier changed"),
        (
            lambda e: registry.aup_add_version(
                identity=e.agent, actor=e.cast.identity_owner, purpose="Wider", allowed_tools=["**"], data_classes=[]
            ),
            "acceptable-use record changed",
        ),
        (lambda e: Tool.objects.filter(pk=e.write.pk).update(actions=["read"]), "no longer offers"),
    ],
)
def test_a_request_whose_inputs_changed_cannot_be_approved_and_says_what_changed(estate, change, named):
    made = ask(estate)
    change(estate)
    with pytest.raises(Conflict, match=named):
        approve(made, estate.cast.manager)


def test_low_risk_read_is_approved_at_once_and_briefly(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="low")
    with pytest.raises(ValidationError, match="At most 1800"):
        ask(estate, scopes=["github.read_repo:read"], duration_seconds=3600)
    made = ask(estate, scopes=["github.read_repo:read"], duration_seconds=900)
    assert made.state == "approved" and made.grant is not None and not made.approvals.exists()
    assert AuditEntry.objects.get(action="elevation_request.create").changes["auto_approved"] is True


def test_the_grant_ends_early_through_the_runtime_and_with_its_task(estate):
    made = approve(ask(estate), estate.cast.manager)
    with pytest.raises(PermissionDenied):
        services.request_grant_end(elevation_request=made, actor=estate.cast.outsider, reason="no")
    assert services.request_grant_end(elevation_request=made, actor=estate.cast.manager, reason="done early") == 1
    grant = Grant.objects.get(pk=made.grant_id)
    assert grant.ended_at is not None and AuditEntry.objects.get(action="grant.end").changes["tokens_revoked"] == 0
    other = approve(ask(estate, task="second"), estate.cast.manager)
    runtime.task_end(task=other.task, actor=estate.cast.identity_owner)
    assert Grant.objects.get(pk=other.grant_id).ended_at is not None


def test_whoever_granted_the_standing_access_asked_for_may_not_approve_it_but_approving_before_does_not_bar(estate):
    first = approve(ask(estate), estate.cast.manager)
    assert first.state == "approved"  # the manager now granted a JIT write for fix-ci: not standing access
    assert approve(ask(estate, task="second"), estate.cast.manager).state == "approved"
    EntitlementFactory(
        identity=estate.agent, tool=estate.write, action="read", scope={"repo": "acme/docs"},
        granted_by=estate.cast.manager,
    )  # fmt: skip
    made = ask(estate, task="third", scopes=[READ], scope={"repo": "acme/api"})  # not held: another repo
    with pytest.raises(PermissionDenied, match=re.escape(rules.ERR_GRANTER)):
        approve(made, estate.cast.manager)


def test_an_eligible_identity_asks_under_lighter_rules(estate):
    Tool.objects.filter(pk=estate.write.pk).update(production_secrets=True)
    assert ask(estate).approvals_needed == 2  # production secrets: two approvers
    EligibilityFactory(identity=estate.agent, tool=estate.write, action="write", scope={"repo": "acme/*"})
    assert ask(estate, task="narrow", scope={"repo": "acme/api"}).approvals_needed == 1  # within the eligibility
    assert ask(estate, task="wide", scope={"repo": "other/api"}).approvals_needed == 2  # outside it
