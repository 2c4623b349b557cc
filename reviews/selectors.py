"""Reads of elevation requests that know the actor (the API, the inbox and the history start here).

- `requests_visible_to(user)` — a queryset of the requests `user` may see (reviews.visibility: the
  requester; owners of the identity; managers of its owners; whoever decided it; for a pending request its
  approver group and the managers routing can reach, delegates included; the see-everything roles all of
  them). Compose it with filters; a request missing from it is a 404.
- `requests_to_decide(user)` — the pending, unexpired requests `user` may approve or deny now, most urgent
  first (urgency high → low, then the soonest expiry, then the oldest): exactly those the services would let
  them decide (reviews.rules.may_decide, then routing through delegations and managers, or the rule's
  approver group). Its cost does not grow with the number of requests (facts are read set-wise, persons
  once each).
- `may_see(request, user)` — the same answer as `requests_visible_to` for one request, with the reason.
- `URGENCY_ORDER` — the ordering expression `requests_to_decide` uses, for lists that sort the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from django.contrib.auth import get_user_model
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from agentiam.permissions import Role, roles_of
from identities.models import Entitlement, EntitlementMode, OwnershipRole, Profile, current_ownerships
from identities.rules import Answer
from reviews import rules, visibility
from reviews.models import Approval, Delegation, ElevationRequest, RequestState, Urgency
from reviews.services import facts

__all__ = ["URGENCY_ORDER", "delegations_visible_to", "may_see", "requests_to_decide", "requests_visible_to", "viewer"]

URGENCY_ORDER = Case(
    When(urgency=Urgency.HIGH, then=Value(0)),
    When(urgency=Urgency.NORMAL, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)

# Persons whose managers, up to MAX_HOPS levels above, include `user` or someone `user` stands in for
# through live delegations (up to MAX_HOPS hops): the accountable owners routing can reach `user` from.
_BELOW = f"""
WITH RECURSIVE stands(id, hops) AS (
    SELECT %s, 0
    UNION
    SELECT d.approver_id, s.hops + 1 FROM {Delegation._meta.db_table} d JOIN stands s ON d.delegate_id = s.id
     WHERE d.starts_at <= %s AND d.ends_at > %s AND d.revoked_at IS NULL AND s.hops < {rules.MAX_HOPS}
), below(id, depth) AS (
    SELECT p.user_id, 1 FROM {Profile._meta.db_table} p JOIN stands s ON p.manager_id = s.id
    UNION
    SELECT p.user_id, b.depth + 1 FROM {Profile._meta.db_table} p JOIN below b ON p.manager_id = b.id
     WHERE b.depth < {rules.MAX_HOPS}
)
SELECT id FROM below"""  # noqa: S608 - our own table names and a constant; the values are parameters


def _signed_in(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def _relations(user) -> visibility.Relations:
    now = timezone.now()  # the services' clock, not the transaction's
    pending = Q(state=RequestState.PENDING)
    in_group = Exists(
        get_user_model().groups.through.objects.filter(user_id=user.pk, group_id=OuterRef("rule__approver_group_id"))
    )
    below = current_ownerships().filter(
        identity=OuterRef("identity"),
        role=OwnershipRole.ACCOUNTABLE,
        person_id__in=RawSQL(_BELOW, [user.pk, now, now]),  # noqa: S611 - parameters only
    )
    return visibility.Relations(
        requested=lambda: Q(requested_by=user),
        owns=lambda: Q(Exists(current_ownerships().filter(identity=OuterRef("identity"), person=user))),
        manages_an_owner=lambda: Q(
            Exists(current_ownerships().filter(identity=OuterRef("identity"), person__profile__manager=user))
        ),
        decided=lambda: Q(Exists(Approval.objects.filter(request=OuterRef("pk"), approver=user))),
        in_group=lambda: pending & Q(in_group),
        in_chain=lambda: pending & Q(Exists(below)),
    )


def requests_visible_to(user) -> QuerySet[ElevationRequest]:
    """The requests `user` may see (reviews.visibility), as a queryset to filter further."""
    if not _signed_in(user):
        return ElevationRequest.objects.none()
    where = visibility.where(roles_of(user), _relations(user))
    return ElevationRequest.objects.all() if where is True else ElevationRequest.objects.filter(where)


def _chain_above(person_id: int | None) -> set[int]:
    """The managers of `person_id`, up to MAX_HOPS levels above."""
    found: set[int] = set()
    for _ in range(rules.MAX_HOPS):
        person_id = Profile.objects.filter(user_id=person_id).values_list("manager_id", flat=True).first()
        if person_id is None or person_id in found:
            break
        found.add(person_id)
    return found


def _stands_for(user) -> set[int]:
    """`user` and whoever they stand in for through live delegations (MAX_HOPS hops at most)."""
    now = timezone.now()
    live = Delegation.objects.filter(starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)
    found, frontier = {user.pk}, {user.pk}
    for _ in range(rules.MAX_HOPS):
        frontier = set(live.filter(delegate_id__in=frontier).values_list("approver_id", flat=True)) - found
        if not frontier:
            break
        found |= frontier
    return found


def viewer(request: ElevationRequest, user) -> visibility.Viewer:
    """How `user` stands to one request, fact by fact (the per-object side of `requests_visible_to`)."""
    roles = roles_of(user)
    if not _signed_in(user):
        return visibility.Viewer(roles)
    owners = current_ownerships().filter(identity_id=request.identity_id)
    pending = request.state == RequestState.PENDING
    group_id = request.rule.approver_group_id if request.rule_id else None
    accountable = owners.filter(role=OwnershipRole.ACCOUNTABLE).values_list("person_id", flat=True)
    return visibility.Viewer(
        roles,
        requested=request.requested_by_id == user.pk,
        owns=owners.filter(person=user).exists(),
        manages_an_owner=owners.filter(person__profile__manager=user).exists(),
        decided=request.approvals.filter(approver=user).exists(),
        in_group=pending and group_id is not None and user.groups.filter(pk=group_id).exists(),
        in_chain=pending and any(_chain_above(person) & _stands_for(user) for person in accountable),
    )


def may_see(request: ElevationRequest, user) -> Answer:
    return visibility.may_see(viewer(request, user))


class _People:
    """What routing reads about persons, each read once and shared by every request of one list."""

    def __init__(self):
        now = timezone.now()
        live = Delegation.objects.filter(starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)
        self.delegate_of = facts._Lookup(lambda p: live.filter(approver_id=p).order_by("-created_at"), "delegate_id")
        self.manager_of = facts._Lookup(
            lambda p: Profile.objects.filter(user_id=p, manager__isnull=False), "manager_id"
        )
        self.candidates: dict[tuple[int, int | None], rules.Candidate] = {}

    def candidate(self, person: int, group_id: int | None) -> rules.Candidate:
        if (person, group_id) not in self.candidates:
            self.candidates[person, group_id] = facts.candidate(person, group_id)
        return self.candidates[person, group_id]


def _asked_in_bulk(found: list[ElevationRequest]) -> tuple[dict[int, rules.Asked], dict[int, int]]:
    """reviews.services.facts.asked for every request at once, and each identity's accountable owner."""
    identity_ids = {r.identity_id for r in found}
    owners, accountable = defaultdict(set), {}
    rows = current_ownerships().filter(identity_id__in=identity_ids).order_by("pk")
    for identity_id, person_id, role in rows.values_list("identity_id", "person_id", "role"):
        owners[identity_id].add(person_id)
        if role == OwnershipRole.ACCOUNTABLE:
            accountable.setdefault(identity_id, person_id)
    decided = defaultdict(set)
    for request_id, approver_id in Approval.objects.filter(request__in=found).values_list("request_id", "approver_id"):
        decided[request_id].add(approver_id)
    granted = defaultdict(set)
    standing = Entitlement.objects.filter(
        identity_id__in=identity_ids, mode=EntitlementMode.STANDING, revoked_at__isnull=True, granted_by__isnull=False
    )
    for identity_id, key, action, granter in standing.values_list(
        "identity_id", "tool__key", "action", "granted_by_id"
    ):
        granted[identity_id, f"{key}:{action}"].add(granter)
    asked = {
        r.pk: rules.Asked(
            requester=r.requested_by_id,
            owners=frozenset(owners[r.identity_id]),
            holders=frozenset({r.identity.person_id} - {None}),
            granters=frozenset().union(*(granted[r.identity_id, scope] for scope in r.scopes)),
            decided_by=frozenset(decided[r.pk]),
        )
        for r in found
    }
    return asked, accountable


def _slots(r: ElevationRequest, asked: rules.Asked, start: int | None, group_id, people: _People) -> list[int]:
    """reviews.services.facts.slots on facts read in bulk (tests compare the two on every case)."""
    found: list[int] = []
    for _ in range(max(r.approvals_needed - len(asked.decided_by), 0)):
        barred = replace(asked, decided_by=asked.decided_by | set(found))
        routed = rules.route(
            start,
            delegate_of=people.delegate_of,
            manager_of=people.manager_of,
            eligible=lambda person, barred=barred: rules.may_decide(people.candidate(person, group_id), barred),
        )
        if routed.person is None:
            break
        found.append(routed.person)
    return found


def requests_to_decide(user) -> QuerySet[ElevationRequest]:
    """The pending requests `user` may decide now, most urgent first."""
    if not _signed_in(user):
        return ElevationRequest.objects.none()
    relations = _relations(user)
    reachable = relations.in_group()
    if Role.MANAGER in roles_of(user):
        reachable |= relations.in_chain()
    found = list(
        ElevationRequest.objects.filter(reachable, expires_at__gt=timezone.now())
        .exclude(requested_by=user)
        .exclude(relations.owns() | relations.decided() | Q(identity__person=user))
        .select_related("identity", "rule")
    )
    asked, accountable = _asked_in_bulk(found)
    people = _People()
    ids = []
    for r in found:
        group_id = r.rule.approver_group_id if r.rule_id else None
        candidate = people.candidate(user.pk, group_id)
        if not rules.may_decide(candidate, asked[r.pk]):
            continue
        start = people.manager_of.get(accountable[r.identity_id]) if r.identity_id in accountable else None
        if candidate.in_approver_group or user.pk in _slots(r, asked[r.pk], start, group_id, people):
            ids.append(r.pk)
    return ElevationRequest.objects.filter(pk__in=ids).order_by(URGENCY_ORDER, "expires_at", "created_at", "pk")


def delegations_visible_to(user) -> QuerySet[Delegation]:
    """Administrators see every delegation; anyone else those they made and those made to them (the rest is a
    404 to them). The pages and the API start here."""
    rows = Delegation.objects.select_related("approver", "delegate")
    if Role.ADMINISTRATOR in roles_of(user):
        return rows
    return rows.filter(Q(approver=user) | Q(delegate=user))
