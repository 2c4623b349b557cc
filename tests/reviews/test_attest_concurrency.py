"""Two decisions on one review item at the same moment, against real PostgreSQL (each in its own thread and
connection, released by a barrier): exactly one wins, the other is refused with a plain 409 (Conflict) — the
conditional UPDATE on the values read, no lock held while the rules are asked. Run many rounds: a race shows
rarely."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from agentiam.errors import Conflict, PermissionDenied
from identities import services as registry
from reviews.models import ReviewItem
from reviews.services import attest as services
from tests.reviews.attest_support import make_item

ROUNDS = 40


def together(calls) -> list[object]:
    barrier, outcomes = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(10)
            outcomes[index] = call()
        except Exception as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def fresh_item(attest, n):
    cast = attest.estate.cast
    agent = registry.identity_create(actor=cast.identity_owner, kind="agent", name=f"race-{n}", environment="dev")
    entitlement = registry.entitlement_grant(identity=agent, tool=attest.estate.read, action="read",
                                             actor=cast.identity_owner)  # fmt: skip
    return make_item(attest.run, entitlement, cast.identity_owner)


@pytest.mark.django_db(transaction=True)
def test_a_revoke_and_a_reduce_at_once_one_wins_and_the_other_is_told(attest):
    owner, raced = attest.owner, 0
    for n in range(ROUNDS):
        item = fresh_item(attest, n)
        outcomes = together([
            lambda item=item: services.review_item_decide(item=item, actor=owner, decision="revoke"),
            lambda item=item: services.review_item_decide(item=item, actor=owner, decision="reduce",
                                                          scope={"repo": "a/b"}),
        ])  # fmt: skip
        refused = [o for o in outcomes if isinstance(o, Exception)]
        won = [o for o in outcomes if isinstance(o, ReviewItem)]
        assert len(won) == 1 and len(refused) == 1, outcomes
        # Both read it pending (the conditional UPDATE refuses the second), or one came after the other (final).
        assert isinstance(refused[0], Conflict) and (str(refused[0]) == services.ERR_RACE or "final" in str(refused[0]))
        raced += str(refused[0]) == services.ERR_RACE
        stored = ReviewItem.objects.get(pk=item.pk)
        assert stored.decision == won[0].decision and stored.state == "decided"
    print(f"{raced} of {ROUNDS} rounds met in the UPDATE")


@pytest.mark.django_db
def test_a_decision_on_an_item_read_before_another_committed_is_refused(attest):
    stale = ReviewItem.objects.select_related("run__campaign", "entitlement__tool", "identity").get(pk=attest.keep.pk)
    services.review_item_decide(item=attest.keep, actor=attest.owner, decision="certify")
    with pytest.raises(Conflict, match="same moment"):
        services._write(stale, {"decision": "revoke", "state": "decided"})
    assert ReviewItem.objects.get(pk=attest.keep.pk).decision == "certify"


@pytest.mark.django_db(transaction=True)
def test_a_revoke_racing_a_reassignment_leaves_exactly_one_of_them(attest):
    owner, manager = attest.owner, attest.estate.cast.manager
    for n in range(ROUNDS // 2):
        item = fresh_item(attest, f"r{n}")
        outcomes = together([
            lambda item=item: services.review_item_decide(item=item, actor=owner, decision="revoke"),
            lambda item=item: services.review_item_decide(item=item, actor=owner, decision="reassign",
                                                          reassign_to=manager, note="yours"),
        ])  # fmt: skip
        refused = [o for o in outcomes if isinstance(o, Exception)]
        # Met in the UPDATE: 409; the hand-over committed before the revoke read the item: no longer theirs (403).
        assert len(refused) == 1 and isinstance(refused[0], Conflict | PermissionDenied), outcomes
        stored = ReviewItem.objects.get(pk=item.pk)
        assert (stored.decision == "revoke" and stored.reviewer == owner) or (
            stored.state == "pending" and stored.reviewer == manager
        )
