"""identities.rules: who may see, change or grant on one identity and why not, and the Q that restrict()
builds from the same definition, agreeing with it on a matrix of people and identities."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from agentiam.permissions import ALL_ROLES, SEE_EVERYTHING, Role
from identities import rules
from identities.models import Identity, OwnershipRole
from identities.models.registry import standing
from identities.rules import Right, Standing, may, offer
from tests.cast import make_person
from tests.factories import IdentityFactory, OwnershipFactory

A, IO, M = Role.ADMINISTRATOR, Role.IDENTITY_OWNER, Role.MANAGER
CO, SA, AU = Role.COMPLIANCE_OFFICER, Role.SECURITY_ANALYST, Role.AUDITOR
ACC, TECH = frozenset({"accountable"}), frozenset({"technical"})


def s(*roles: Role, own: frozenset[str] = frozenset(), manages: bool = False) -> Standing:
    return Standing(frozenset(roles), own, manages)


@pytest.mark.parametrize(
    ("right", "who", "allowed", "reason"),
    [
        (Right.VIEW, s(AU), True, ""),
        (Right.VIEW, s(IO, own=TECH), True, ""),
        (Right.VIEW, s(IO), False, rules.ERR_NOT_VISIBLE),
        (Right.VIEW, s(M, manages=True), True, ""),
        (Right.VIEW, s(M), False, rules.ERR_NOT_VISIBLE),
        (Right.VIEW, s(own=ACC), False, rules.ERR_NOT_VISIBLE),  # an owner whose role was taken away
        (Right.CHANGE, s(IO, own=ACC), True, ""),
        (Right.CHANGE, s(A), True, ""),
        (Right.CHANGE, s(A, own=ACC), False, rules.ERR_NOT_OWNER),
        (Right.CHANGE, s(A, IO, own=TECH), True, ""),
        (Right.CHANGE, s(IO), False, rules.ERR_NOT_OWNER),
        (Right.CHANGE, s(SA), False, rules.ERR_NOT_OWNER),
        (Right.GRANT_READ, s(IO, own=TECH), True, ""),
        (Right.GRANT_READ, s(M, manages=True), False, rules.ERR_NOT_OWNER),
        (Right.GRANT_PRIVILEGED, s(A), True, ""),
        (Right.GRANT_PRIVILEGED, s(IO, own=ACC), False, rules.ERR_READ_ONLY_OWNER),
        (Right.GRANT_PRIVILEGED, s(IO), False, rules.ERR_PRIVILEGED_NEEDS_ADMIN),
        (Right.GRANT_PRIVILEGED, s(A, IO, own=ACC), False, rules.ERR_PRIVILEGED_NEEDS_ADMIN),
        (Right.ADMINISTER, s(A), True, ""),
        (Right.ADMINISTER, s(A, own=TECH), False, rules.ERR_ADMIN_OWNS),
        (Right.ADMINISTER, s(SA), False, rules.ERR_ONLY_ADMIN),
        (Right.ADMINISTER, s(IO, own=ACC), False, rules.ERR_ONLY_ADMIN),
        (Right.ACCEPT_RISK, s(A, own=ACC), False, rules.ERR_ACCEPT_RISK),
        (Right.ACCEPT_RISK, s(A), True, ""),
        (Right.SUSPEND, s(SA, own=ACC), True, ""),
        (Right.SUSPEND, s(IO, own=TECH), True, ""),
        (Right.SUSPEND, s(IO), False, rules.ERR_SUSPEND_ROLE),
        (Right.SUSPEND, s(CO), False, rules.ERR_SUSPEND_ROLE),
        (Right.RESUME, s(SA), True, ""),
        (Right.RESUME, s(SA, own=TECH), False, rules.ERR_RESUME_ROLE),
        (Right.RESUME, s(IO, own=ACC), False, rules.ERR_RESUME_ROLE),
        (Right.APPROVE_AUP, s(own=ACC), True, ""),
        (Right.APPROVE_AUP, s(IO, own=TECH), False, rules.ERR_AUP_APPROVER),
        (Right.APPROVE_AUP, s(A), False, rules.ERR_AUP_APPROVER),
        (Right.END_TASK, s(SA), True, ""),
        (Right.END_TASK, s(A), True, ""),
        (Right.END_TASK, s(A, own=ACC), False, rules.ERR_TASK_END),
        (Right.COMPLETE_TASK, s(IO, own=ACC), True, ""),
        (Right.COMPLETE_TASK, s(A), False, rules.ERR_MAY_NOT),
        (Right.COMPLETE_TASK, s(SA, own=ACC), True, ""),
    ],
)
def test_each_right_answers_with_the_reason_for_a_refusal(right, who, allowed, reason):
    answer = may(right, who)
    assert (answer.allowed, answer.reason) == (allowed, reason)
    assert bool(answer) is allowed


def test_a_refusal_checks_as_permission_denied_with_its_reason():
    may(Right.CHANGE, s(A)).check()
    with pytest.raises(PermissionDenied, match="Administrators may not"):
        may(Right.ADMINISTER, s(A, own=ACC)).check()


def test_pages_offer_grants_and_suspension_on_active_identities_and_resumption_on_others():
    admin = s(A)
    assert offer(Right.GRANT_READ, admin, active=True) and not offer(Right.GRANT_READ, admin, active=False)
    assert offer(Right.SUSPEND, admin, active=True) and not offer(Right.SUSPEND, admin, active=False)
    assert offer(Right.RESUME, admin, active=False) and not offer(Right.RESUME, admin, active=True)
    assert offer(Right.CHANGE, admin, active=False)
    assert not offer(Right.GRANT_READ, s(IO), active=True)


def test_the_role_sets_views_declare_come_from_the_rules():
    assert rules.READERS == ALL_ROLES
    assert {A, IO} == rules.CHANGERS
    assert {A, IO, SA} == rules.SUSPENDERS
    assert {A, SA} == rules.RESUMERS
    assert {A} == rules.ADMINISTRATORS
    assert rules.gate(Right.VIEW) - SEE_EVERYTHING == {IO, M}


@pytest.mark.parametrize("role", list(Role))
def test_roles_alone_decide_every_identity_is_visible_only_for_the_see_everything_roles(role):
    everything = rules.sees_every_identity(frozenset({role}))
    assert everything == (role in SEE_EVERYTHING)
    assert rules.where(Right.VIEW, frozenset({role}), rules.Relations(lambda r: None, lambda: None)) is True or (
        not everything
    )


def test_the_accountable_ownership_role_is_the_models_one():
    assert rules.ACCOUNTABLE == OwnershipRole.ACCOUNTABLE


# --- restrict() is the set where may() says yes -----------------------------------------------------------------

ACTORS = {
    "administrator": (A,),
    "identity_owner": (IO,),
    "manager": (M,),
    "compliance_officer": (CO,),
    "security_analyst": (SA,),
    "auditor": (AU,),
    "admin_and_owner": (A, IO),
    "manager_and_owner": (M, IO),
    "no_role": (),
}
# How each actor stands to the identities made for them: (ownership role, who holds it, when).
SHAPES = {
    "accountable": ("accountable", "actor", "now"),
    "technical": ("technical", "actor", "now"),
    "report's": ("accountable", "report", "now"),
    "stranger's": ("accountable", "stranger", "now"),
    "orphaned": None,
    "formerly owned": ("accountable", "actor", "past"),
    "owned from tomorrow": ("accountable", "actor", "future"),
}


@pytest.fixture
def estate(db):
    now = timezone.now()
    windows = {
        "now": (now - timedelta(days=1), None),
        "past": (now - timedelta(days=10), now - timedelta(days=1)),
        "future": (now + timedelta(days=1), None),
    }
    stranger = make_person("stranger", IO)
    actors, facts = {}, {}  # facts: identity pk → [(holder pk, ownership role, current?)]
    managers = {}  # person pk → their manager's pk
    for name, roles in ACTORS.items():
        actor = make_person(name, *roles)
        report = make_person(f"{name}-report", IO, manager=actor)
        managers[report.pk] = actor.pk
        actors[name] = actor
        holders = {"actor": actor, "report": report, "stranger": stranger}
        for shape, ownership in SHAPES.items():
            identity = IdentityFactory(name=f"{name}: {shape}")
            facts[identity.pk] = []
            if ownership:
                role, holder, when = ownership
                start, end = windows[when]
                person = holders[holder]
                OwnershipFactory(identity=identity, person=person, role=role, valid_from=start, valid_to=end)
                facts[identity.pk].append((person.pk, role, when == "now"))
    inactive = make_person("inactive-owner", IO, is_active=False)
    actors["inactive"] = inactive
    identity = IdentityFactory(name="inactive: accountable")
    OwnershipFactory(identity=identity, person=inactive, valid_from=windows["now"][0])
    facts[identity.pk] = [(inactive.pk, "accountable", True)]
    return actors, facts, managers


def expected_standing(actor, holders, managers) -> Standing:
    if not actor.is_active:
        return Standing(frozenset())
    roles = frozenset(Role(g) for g in actor.groups.values_list("name", flat=True))
    current = [(pk, role) for pk, role, now in holders if now]
    return Standing(
        roles,
        frozenset(role for pk, role in current if pk == actor.pk),
        any(managers.get(pk) == actor.pk for pk, _ in current),
    )


def test_restrict_is_the_set_of_identities_where_may_says_yes(estate):
    actors, facts, managers = estate
    identities = {identity.pk: identity for identity in Identity.objects.all()}
    for name, actor in actors.items():
        standings = {pk: expected_standing(actor, holders, managers) for pk, holders in facts.items()}
        for pk, identity in identities.items():
            assert standing(identity, actor) == standings[pk], (name, identity.name)
        for right in Right:
            expected = {pk for pk, who in standings.items() if may(right, who)}
            got = set(Identity.objects.restrict(actor, right).values_list("pk", flat=True))
            assert got == expected, (name, right, sorted(identities[pk].name for pk in got ^ expected))


def test_restrict_answers_everything_or_nothing_without_a_filter_when_roles_decide(estate):
    actors = estate[0]
    assert str(Identity.objects.restrict(actors["auditor"]).query) == str(Identity.objects.all().query)
    assert not Identity.objects.restrict(actors["no_role"], Right.VIEW).exists()
    assert Identity.objects.restrict(actors["compliance_officer"], Right.CHANGE).count() == 0
