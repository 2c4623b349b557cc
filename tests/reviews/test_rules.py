"""reviews.rules: who may decide an elevation request, over a matrix, and delegation routing."""

from __future__ import annotations

from itertools import product

import pytest

from agentiam.permissions import Role
from reviews import rules
from reviews.rules import Asked, Candidate, may_decide, route

ME = 1
ASKED = Asked(requester=2, owners=frozenset({3}), holders=frozenset({4}), granters=frozenset({5}))

ROLES = {
    "manager": frozenset({Role.MANAGER}),
    "administrator": frozenset({Role.ADMINISTRATOR}),
    "none": frozenset(),
}
# Each relation the person may have to the request, and the reason it bars them (None: it does not).
RELATIONS = {
    "stranger": (ASKED, None),
    "requester": (Asked(requester=ME), rules.ERR_REQUESTER),
    "owner": (Asked(owners=frozenset({ME})), rules.ERR_OWNER),
    "holder": (Asked(holders=frozenset({ME})), rules.ERR_HOLDER),
    "granter": (Asked(granters=frozenset({ME})), rules.ERR_GRANTER),
    "decided": (Asked(decided_by=frozenset({ME})), rules.ERR_ALREADY_DECIDED),
}


@pytest.mark.parametrize(
    ("role", "group", "active", "relation"), list(product(ROLES, (False, True), (True, False), RELATIONS))
)
def test_may_decide_over_the_matrix(role, group, active, relation):
    asked, barred_by = RELATIONS[relation]
    answer = may_decide(Candidate(ME, ROLES[role], in_approver_group=group, active=active), asked)
    qualified = role == "manager" or group
    if not active:
        expected = rules.ERR_INACTIVE
    elif barred_by in (rules.ERR_REQUESTER, rules.ERR_OWNER, rules.ERR_HOLDER, rules.ERR_GRANTER):
        expected = barred_by  # separation of duties comes before the role: a manager who owns it is still barred
    elif not qualified:
        expected = rules.ERR_APPROVER_ROLE
    else:
        expected = barred_by
    assert answer.allowed is (expected is None)
    assert answer.reason == (expected or "")


def test_an_agent_asking_for_itself_bars_no_person():
    assert may_decide(Candidate(ME, ROLES["manager"]), Asked(requester=None))


def managers(*ids):
    return lambda person: may_decide(Candidate(person, ROLES["manager"]), Asked(requester=99, owners=frozenset(ids)))


def test_no_delegation_routes_to_the_approver():
    assert route(10, delegate_of={}, manager_of={}, eligible=managers()).person == 10


def test_an_away_approver_routes_to_their_delegate_and_on_down_the_chain():
    found = route(10, delegate_of={10: 11, 11: 12}, manager_of={}, eligible=managers())
    assert found.person == 12 and found.tried == (10, 11, 12)
    assert found.skipped == {10: rules.ERR_AWAY, 11: rules.ERR_AWAY}


def test_a_barred_delegate_falls_back_to_the_approvers_manager():
    # 11 owns the identity: skipped with the reason, and the manager of 10 (20) decides instead.
    found = route(10, delegate_of={10: 11}, manager_of={10: 20}, eligible=managers(11))
    assert found.person == 20 and found.skipped[11] == rules.ERR_OWNER


def test_a_delegate_who_is_the_requester_is_skipped():
    found = route(10, delegate_of={10: 99}, manager_of={10: 20}, eligible=managers())
    assert found.person == 20 and found.skipped[99] == rules.ERR_REQUESTER


def test_a_delegation_cycle_ends_and_falls_back():
    found = route(10, delegate_of={10: 11, 11: 10}, manager_of={10: 20}, eligible=managers())
    assert found.person == 20 and found.skipped[10] == rules.ERR_AWAY


def test_a_cycle_of_managers_with_nobody_eligible_ends_with_nobody():
    found = route(10, delegate_of={}, manager_of={10: 11, 11: 10}, eligible=managers(10, 11))
    assert found.person is None and set(found.tried) == {10, 11}


def test_routing_is_bounded():
    chain = {n: n + 1 for n in range(100)}
    found = route(0, delegate_of=chain, manager_of={}, eligible=managers(), max_hops=5)
    assert found.person is None and len(found.tried) <= 6


def test_the_managers_manager_is_reached_when_the_manager_is_barred():
    found = route(10, delegate_of={}, manager_of={10: 20, 20: 30}, eligible=managers(10, 20))
    assert found.person == 30 and found.tried == (10, 20, 30)


def test_no_approver_at_all_routes_to_nobody():
    assert route(None, delegate_of={}, manager_of={}, eligible=managers()).person is None
