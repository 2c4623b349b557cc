"""Who reviews an item next, when its reviewer escalates away, misses the deadline of an "escalate" stage or
leaves the company: the campaign's reviewer chain — the identity's accountable owners, then their managers,
then the fallback group (for a role holding: the holder's manager, then the fallback group) — skipping anyone
the separation of duties bars (the holder, the requester, in an independent item the granter), anyone who
cannot sign in, and the reviewer the item is leaving.

Read-only; the cadence services write. Facts are read once per identity for a batch of items (`Chain`), so a
run with many items escalating costs queries per identity, not per item."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from identities.models import OwnershipRole, PersonStatus, Profile, current_ownerships
from reviews.models_campaigns import ReviewItem, RoutedVia

__all__ = ["LEVEL_OF", "Chain", "level_of", "next_reviewer"]

# How far along the chain an item's current routing is (escalation moves it at least one level on).
LEVEL_OF = {
    RoutedVia.OWNER: 0,
    RoutedVia.REASSIGNED: 0,
    RoutedVia.MANAGER: 1,
    RoutedVia.FALLBACK: 2,
    RoutedVia.UNROUTED: -1,
}


@dataclass
class Chain:
    """The reviewer chain's facts for one run, read lazily and kept for the batch. `rule` is the stage's
    reviewer rule: "owner" starts at the accountable owners, "manager" at their managers, "fallback" at the
    group."""

    fallback_group_id: int | None
    rule: str = "owner"
    _owners: dict[int, list[int]] = field(default_factory=dict)
    _manager: dict[int, int | None] = field(default_factory=dict)
    _active: dict[int, bool] = field(default_factory=dict)
    _fallback: list[int] | None = None

    def owners(self, identity_id: int) -> list[int]:
        if identity_id not in self._owners:
            rows = current_ownerships().filter(identity_id=identity_id, role=OwnershipRole.ACCOUNTABLE)
            self._owners[identity_id] = sorted(set(rows.values_list("person_id", flat=True)))
        return self._owners[identity_id]

    def manager(self, person_id: int) -> int | None:
        if person_id not in self._manager:
            self._manager[person_id] = Profile.objects.filter(user_id=person_id).values_list("manager_id", flat=True) \
                .first()  # fmt: skip
        return self._manager[person_id]

    def active(self, person_id: int) -> bool:
        if person_id not in self._active:
            self._active[person_id] = (
                get_user_model()
                .objects.filter(pk=person_id, is_active=True, profile__status=PersonStatus.ACTIVE)
                .exists()
            )
        return self._active[person_id]

    def fallback(self) -> list[int]:
        """The fallback group's active members, in a fixed order."""
        if self._fallback is None:
            if self.fallback_group_id is None:
                self._fallback = []
            else:
                members = (
                    get_user_model()
                    .objects.filter(groups=self.fallback_group_id, is_active=True, profile__status=PersonStatus.ACTIVE)
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
                self._fallback = list(members)
        return self._fallback


def _barred(item: ReviewItem, person_id: int) -> bool:
    return person_id in (item.holder_person_id, item.requested_by_id, item.prior_decided_by_id) or (
        item.independent and person_id == item.granted_by_id
    )


def _levels(item: ReviewItem, chain: Chain) -> list[tuple[int, RoutedVia, list[int]]]:
    # A role holding: the holder's manager reviews it, as an owner's manager would.
    owners = chain.owners(item.identity_id) if item.identity_id is not None else [item.role_holder_id]
    managers = [m for m in dict.fromkeys(chain.manager(owner) for owner in owners) if m is not None]
    levels = [(2, RoutedVia.FALLBACK, chain.fallback())]
    if chain.rule in ("owner", "manager"):
        levels.insert(0, (1, RoutedVia.MANAGER, managers))
    if chain.rule == "owner" and item.identity_id is not None:
        levels.insert(0, (0, RoutedVia.OWNER, owners))
    return levels


def level_of(item: ReviewItem, chain: Chain) -> int:
    """Where the item's current reviewer stands in the chain (-1: nowhere, e.g. unrouted or reassigned off it)."""
    for level, _, people in _levels(item, chain):
        if item.reviewer_id in people:
            return level
    return LEVEL_OF.get(item.routed_via, -1)


def next_reviewer(item: ReviewItem, chain: Chain, *, beyond: int) -> tuple[int, RoutedVia] | None:
    """The first eligible person at a chain level above `beyond` (-1: anywhere), never the item's current
    reviewer; None when the chain has nobody left."""
    for level, via, people in _levels(item, chain):
        if level <= beyond:
            continue
        for person_id in people:
            if person_id != item.reviewer_id and not _barred(item, person_id) and chain.active(person_id):
                return person_id, via
    return None
