"""Separation of duties for elevation requests: who may decide one, and who decides when an approver is away.

Pure, like identities/rules.py: the facts about a person and one request go in, an `Answer` with the
refusal's reason comes out. The services ask it before they write, the inbox asks it before it offers a
button, and routing asks it for every person a delegation chain passes through, so nobody ever sees a
request they could not decide. The database repeats the hardest of these refusals (reviews.models).

    answer = may_decide(Candidate(person=7, roles=frozenset({Role.MANAGER})), Asked(requester=7))
    answer.allowed, answer.reason  # False, ERR_REQUESTER
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from agentiam.permissions import Role
from identities.rules import Answer

__all__ = [
    "ERR_ALREADY_DECIDED",
    "ERR_APPROVER_ROLE",
    "ERR_GRANTER",
    "ERR_HOLDER",
    "ERR_INACTIVE",
    "ERR_OWNER",
    "ERR_REQUESTER",
    "ERR_REVIEW_GRANTER",
    "ERR_REVIEW_HOLDER",
    "ERR_REVIEW_INACTIVE",
    "ERR_REVIEW_PRIOR",
    "ERR_REVIEW_REQUESTER",
    "ERR_REVIEW_RULE",
    "MAX_HOPS",
    "Asked",
    "Candidate",
    "Reviewed",
    "Route",
    "may_decide",
    "may_review",
    "route",
]

ERR_INACTIVE = "Only an active person may decide an elevation request."
ERR_REQUESTER = "Nobody may decide an elevation request they made."
ERR_OWNER = "An owner of this identity may not decide its elevation requests."
ERR_HOLDER = "Nobody may decide an elevation request for access they hold themselves."
ERR_GRANTER = "Nobody may decide an elevation request for access they granted."
ERR_APPROVER_ROLE = "Only a manager or a member of the approver group may decide elevation requests."
ERR_ALREADY_DECIDED = "You have already decided this elevation request: each approver decides once."

MAX_HOPS = 8  # delegations followed and managers climbed, in all, before routing gives up


@dataclass(frozen=True)
class Candidate:
    """One person who might decide: their id, roles, whether they are in the rule's approver group."""

    person: int
    roles: frozenset[Role] = frozenset()
    in_approver_group: bool = False
    active: bool = True


@dataclass(frozen=True)
class Asked:
    """What is asked, as far as separation of duties cares: persons by id."""

    requester: int | None = None  # None: the agent asked for itself
    owners: frozenset[int] = frozenset()  # current owners of the identity, any ownership role
    holders: frozenset[int] = frozenset()  # persons who hold what is asked (a human identity's person)
    granters: frozenset[int] = frozenset()  # persons who granted the identity's live access to what is asked
    decided_by: frozenset[int] = frozenset()  # persons who already approved or denied it


def may_decide(candidate: Candidate, asked: Asked) -> Answer:
    """May this person approve or deny this request? The first reason that bars them, if any."""
    person = candidate.person
    for barred, reason in (
        (not candidate.active, ERR_INACTIVE),
        (person == asked.requester, ERR_REQUESTER),
        (person in asked.owners, ERR_OWNER),
        (person in asked.holders, ERR_HOLDER),
        (person in asked.granters, ERR_GRANTER),
        (Role.MANAGER not in candidate.roles and not candidate.in_approver_group, ERR_APPROVER_ROLE),
        (person in asked.decided_by, ERR_ALREADY_DECIDED),
    ):
        if barred:
            return Answer(False, reason)
    return Answer(True)


@dataclass(frozen=True)
class Route:
    """Who decides for `start`: `person` (None when nobody may), the persons tried in order, and why each
    one was passed over (person → reason: away, or the refusal of `may_decide`)."""

    person: int | None
    tried: tuple[int, ...] = ()
    skipped: Mapping[int, str] = field(default_factory=dict)


ERR_AWAY = "away: delegated"
ERR_CYCLE = "delegation cycle"


def route(
    start: int | None,
    *,
    delegate_of: Mapping[int, int],
    manager_of: Mapping[int, int],
    eligible: Callable[[int], Answer],
    max_hops: int = MAX_HOPS,
) -> Route:
    """Resolve who decides in place of `start` (the accountable owner's manager, say), at decision time.

    An approver with a live delegation (`delegate_of`) hands over to their delegate, who may have delegated
    in turn; the first person in that chain who is not away decides if `eligible` says so. When the chain
    ends in someone barred, loops back on itself, or runs past `max_hops`, routing falls back to the
    manager of the person the chain started from (`manager_of`) and tries again, still within the bound.
    Nobody is tried twice, so a cycle of delegations or of managers ends."""
    tried: list[int] = []
    skipped: dict[int, str] = {}
    seen: set[int] = set()
    origins: set[int] = set()
    origin = start
    hops = 0
    while origin is not None and origin not in origins and hops <= max_hops:
        origins.add(origin)
        person: int | None = origin
        while person is not None and hops <= max_hops:
            if person in seen:
                skipped.setdefault(person, ERR_CYCLE)
                break
            seen.add(person)
            tried.append(person)
            if person in delegate_of:
                skipped[person] = ERR_AWAY
                person, hops = delegate_of[person], hops + 1
                continue
            answer = eligible(person)
            if answer:
                return Route(person, tuple(tried), skipped)
            skipped[person] = answer.reason
            break
        origin, hops = manager_of.get(origin), hops + 1
    return Route(None, tuple(tried), skipped)


# --- review campaigns: who may attest one review item (certify, revoke, reduce, reassign) ---------------------

ERR_REVIEW_INACTIVE = "Only an active person may review access."
ERR_REVIEW_HOLDER = "Nobody reviews access they hold: an identity never reviews itself."
ERR_REVIEW_REQUESTER = "Nobody certifies access they requested."
ERR_REVIEW_GRANTER = "This campaign asks for an independent reviewer: nobody certifies access they granted."
ERR_REVIEW_PRIOR = "Nobody confirms their own keep: a later stage is reviewed by someone else."
ERR_REVIEW_RULE = (
    "The campaign's reviewer rule does not name this person for this item: an owner of the identity, the "
    "accountable owner's manager or a member of the fallback group."
)


@dataclass(frozen=True)
class Reviewed:
    """One review item, as far as separation of duties cares (persons by id). `eligible` is who the campaign's
    reviewer rule names for it (owners, the accountable owner's manager, the fallback group's members)."""

    holder: int | None = None  # the person of a human identity, or the holder of an AgentIAM role
    requester: int | None = None  # who asked for a JIT entitlement
    granter: int | None = None
    independent: bool = False  # the granter may not certify it either
    prior: int | None = None  # a later stage's item: who kept it in the stage before
    eligible: frozenset[int] = frozenset()


def may_review(person: int, reviewed: Reviewed, *, active: bool = True) -> Answer:
    """May this person attest (or be handed) this item? Owning the identity never bars it: that is the
    owner's job. The database holds the same refusals (CHECKs on the item, a trigger on reassignment)."""
    for barred, reason in (
        (not active, ERR_REVIEW_INACTIVE),
        (person == reviewed.holder, ERR_REVIEW_HOLDER),
        (person == reviewed.requester, ERR_REVIEW_REQUESTER),
        (reviewed.independent and person == reviewed.granter, ERR_REVIEW_GRANTER),
        (reviewed.prior is not None and person == reviewed.prior, ERR_REVIEW_PRIOR),
        (person not in reviewed.eligible, ERR_REVIEW_RULE),
    ):
        if barred:
            return Answer(False, reason)
    return Answer(True)
