"""Who sees which elevation request, and who has which to decide (reviews.visibility, reviews.selectors): the
queryset and the one-request answer agree on a matrix of persons by requests, and `requests_to_decide` lists
exactly what the services would let each person decide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agentiam.permissions import Role
from identities import services as registry
from identities.models import Identity
from reviews import selectors, services
from reviews.models import ApprovalRule, ElevationRequest
from reviews.services import decisions
from tests.cast import make_person
from tests.factories import DelegationFactory
from tests.reviews.support import READ, ask

pytestmark = pytest.mark.django_db


def may_decide_by_service(made, person) -> bool:
    """What the services say: refused by the clock, the state, separation of duties or routing, or not."""
    made = ElevationRequest.objects.select_related("identity", "rule").get(pk=made.pk)
    if made.state != "pending" or made.expires_at <= timezone.now():
        return False
    try:
        decisions._authorise(made, person)
    except PermissionDenied:
        return False
    return True


@pytest.fixture
def world(estate):
    """Requests of several shapes, and persons standing to them in every way visibility knows."""
    cast = estate.cast
    other_manager = make_person("other-manager", Role.MANAGER)
    other_owner = make_person("other-owner", Role.IDENTITY_OWNER, manager=other_manager)
    other = registry.identity_create(actor=other_owner, kind="agent", name="other-bot", environment="dev")
    registry.aup_add_version(
        identity=other, actor=other_owner, purpose="Other", allowed_tools=["github.*"], data_classes=[]
    )
    Identity.objects.filter(pk=other.pk).update(risk_tier="medium")
    group = Group.objects.create(name="grouped-approvers")
    member = make_person("group-member")
    member.groups.add(group)
    deputy = make_person("deputy", Role.MANAGER)
    made = {
        "mine": ask(estate, urgency="low"),
        "urgent": ask(estate, task="hotfix", urgency="high"),
        "theirs": ask(estate, identity=other, actor=other_owner),
        "agent": ask(estate, task="self", actor=None, agent=estate.agent),
        "denied": ask(estate, task="denied"),
        "expired": ask(estate, task="late"),
    }
    services.request_deny(elevation_request=made["denied"], actor=cast.manager, comment="no")
    ElevationRequest.objects.filter(pk=made["expired"].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    grouped = ApprovalRule.objects.create(
        name="grouped", priority=1, approvals_needed=1, max_duration_seconds=3600, approver_group=group
    )
    made["grouped"] = ask(estate, identity=other, actor=other_owner, task="grouped")
    ElevationRequest.objects.filter(pk=made["grouped"].pk).update(rule=grouped)
    people = {**cast.members(), "boss": estate.boss, "other_manager": other_manager, "other_owner": other_owner,
              "member": member, "deputy": deputy}  # fmt: skip
    return estate, made, people


def test_the_visible_list_and_the_one_request_answer_agree_for_everyone(world):
    _estate, made, people = world
    for name, person in people.items():
        listed = set(selectors.requests_visible_to(person).values_list("pk", flat=True))
        for key, request in made.items():
            request = ElevationRequest.objects.select_related("rule").get(pk=request.pk)
            assert (request.pk in listed) == selectors.may_see(request, person).allowed, (name, key)


def test_who_sees_what(world):
    estate, made, people = world

    def seen(name):
        pks = set(selectors.requests_visible_to(people[name]).values_list("pk", flat=True))
        return {key for key, request in made.items() if request.pk in pks}

    everything = set(made)
    for name in ("administrator", "compliance_officer", "security_analyst", "auditor"):
        assert seen(name) == everything
    assert seen("outsider") == set()
    mine = {"mine", "urgent", "agent", "denied", "expired"}
    assert seen("identity_owner") == mine  # requester and owner
    assert seen("manager") == mine  # manages the owner, decided one
    assert seen("boss") == {"mine", "urgent", "agent", "expired"}  # pending ones routing can reach
    assert seen("other_owner") == seen("other_manager") == {"theirs", "grouped"}
    assert seen("member") == {"grouped"}  # the approver group, while it is pending
    assert seen("deputy") == set()  # not standing in for anyone
    DelegationFactory(approver=estate.cast.manager, delegate=people["deputy"])
    assert seen("deputy") == {"mine", "urgent", "agent", "expired"}


def test_requests_to_decide_are_exactly_what_the_services_let_each_person_decide(world):
    estate, made, people = world

    def check():
        for name, person in people.items():
            listed = set(selectors.requests_to_decide(person).values_list("pk", flat=True))
            for key, request in made.items():
                assert (request.pk in listed) == may_decide_by_service(request, person), (name, key)

    check()
    assert set(selectors.requests_to_decide(estate.cast.manager)) == {made["mine"], made["urgent"], made["agent"]}
    assert set(selectors.requests_to_decide(people["member"])) == {made["grouped"]}
    DelegationFactory(approver=estate.cast.manager, delegate=people["deputy"])
    check()
    assert set(selectors.requests_to_decide(people["deputy"])) == {made["mine"], made["urgent"], made["agent"]}
    assert not selectors.requests_to_decide(estate.cast.manager).exists()
    DelegationFactory(approver=people["deputy"], delegate=estate.cast.identity_owner)  # barred: boss decides
    check()
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    check()


def test_a_two_approver_request_is_for_the_manager_and_the_managers_manager_until_each_decided(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    made = ask(estate, duration_seconds=1800)
    assert made in selectors.requests_to_decide(estate.cast.manager)
    assert made in selectors.requests_to_decide(estate.boss)
    services.request_approve(elevation_request=made, actor=estate.cast.manager, comment="ok")
    assert made not in selectors.requests_to_decide(estate.cast.manager)
    assert made in selectors.requests_to_decide(estate.boss)


def test_the_most_urgent_comes_first_then_the_soonest_expiry(world):
    estate, made, _people = world
    ElevationRequest.objects.filter(pk=made["agent"].pk).update(expires_at=timezone.now() + timedelta(hours=1))
    order = list(selectors.requests_to_decide(estate.cast.manager))
    assert order == [made["urgent"], made["agent"], made["mine"]]


def test_anonymous_and_inactive_people_see_nothing(world, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    _estate, _made, people = world
    assert not selectors.requests_visible_to(AnonymousUser()).exists()
    assert not selectors.requests_to_decide(None).exists()
    django_user_model.objects.filter(pk=people["auditor"].pk).update(is_active=False)
    people["auditor"].refresh_from_db()
    assert not selectors.requests_visible_to(people["auditor"]).exists()


def _cost(person, count: int, estate) -> int:
    person = type(person).objects.get(pk=person.pk)  # no roles cached from an earlier call
    for n in range(count):
        ask(estate, task=f"bulk-{n}-{count}", **({"scopes": [READ]} if n % 2 else {}))
    with CaptureQueriesContext(connection) as seen:
        assert len(list(selectors.requests_to_decide(person))) >= count
    return len(seen)


def test_deciding_many_costs_what_deciding_few_does(estate):
    ApprovalRule.objects.filter(auto_approve=True).update(enabled=False)
    few = _cost(estate.cast.manager, 2, estate)
    assert _cost(estate.cast.manager, 20, estate) == few
