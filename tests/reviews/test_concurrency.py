"""Two managers approving a two-approver request at the same moment, against real PostgreSQL: exactly one
grant and one set of entitlements, and a third approval is refused. Run many times: a race shows rarely."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from agentiam.errors import Conflict
from agentiam.permissions import Role
from identities.models import Entitlement, Grant, Identity
from reviews import services
from tests.cast import make_person

ROUNDS = 100


def approve_together(made, people) -> list[object]:
    """Each person approves `made` in their own thread and connection, released at once by a barrier."""
    barrier, outcomes = threading.Barrier(len(people)), [None] * len(people)

    def run(index, person):
        try:
            barrier.wait(10)
            outcomes[index] = services.request_approve(elevation_request=made, actor=person)
        except Exception as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_make_exactly_one_grant_and_a_third_is_refused(estate):
    Identity.objects.filter(pk=estate.agent.pk).update(risk_tier="critical")
    third = make_person("third-manager", Role.MANAGER)
    for round_ in range(ROUNDS):
        made = services.request_create(
            identity=estate.agent, task=f"race-{round_}", scopes=["github.create_pull_request:write"],
            justification="race", duration_seconds=1800, actor=estate.cast.identity_owner,
        )  # fmt: skip
        assert made.approvals_needed == 2
        outcomes = approve_together(made, [estate.cast.manager, estate.boss])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        made.refresh_from_db()
        assert made.state == "approved" and made.approvals.count() == 2
        grants = Grant.objects.filter(task=made.task)
        assert grants.count() == 1 and Entitlement.objects.filter(grant__in=grants).count() == 1
        with pytest.raises(Conflict):
            services.request_approve(elevation_request=made, actor=third)


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_for_one_slot_one_wins_the_other_is_told(estate):
    from django.contrib.auth.models import Group

    from reviews.models import ApprovalRule

    group = Group.objects.create(name="racers")
    ApprovalRule.objects.filter(name="Medium and low identities: one approver").update(approver_group=group)
    racers = [make_person(f"racer-{n}") for n in range(2)]
    for racer in racers:
        racer.groups.add(group)
    for round_ in range(ROUNDS // 4):
        made = services.request_create(
            identity=estate.agent, task=f"slot-{round_}", scopes=["github.create_pull_request:write"],
            justification="race", duration_seconds=600, actor=estate.cast.identity_owner,
        )  # fmt: skip
        outcomes = approve_together(made, racers)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], Conflict) and "approved" in str(refused[0])
        assert Grant.objects.filter(task=made.task).count() == 1
