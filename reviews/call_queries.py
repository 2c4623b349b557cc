"""Per-call authorisations a person may decide now, for every pending call at once: the answer of
reviews.services.calls.may_decide_call (the rule's approver group, or routing through delegations and managers
above, skipping whom separation of duties bars), with its facts read set-wise and each person once, so the
cost does not grow with the calls. Kept on the user object for the request: the list, the inbox's slot and
the work list all ask."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from agentiam.permissions import Role, roles_of
from identities.models import OwnershipRole, current_ownerships
from identities.runtime.models import CallAuthorisation, CallState
from reviews import rules
from reviews.models import ApprovalRule
from reviews.selectors import _BELOW, _People
from reviews.services.calls import asked_for_call, group_for

__all__ = ["calls_to_decide", "forget"]

_CACHE_ATTR = "_reviews_calls_deciding"
LIMIT = 500  # pending calls lapse within minutes; more than this waiting at once is an incident, not a list


def forget(user) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def _reachable(user, now, groups: set[int], enabled: list[ApprovalRule]) -> Q | None:
    """Which pending calls might be `user`'s: all, when a rule names a group of theirs; else those whose
    accountable owner routing can reach them from (a manager); else none."""
    if any(rule.approver_group_id in groups for rule in enabled):
        return Q()
    if Role.MANAGER not in roles_of(user):
        return None
    below = current_ownerships().filter(
        identity=OuterRef("identity"),
        role=OwnershipRole.ACCOUNTABLE,
        person_id__in=RawSQL(_BELOW, [user.pk, now, now]),  # noqa: S611 - parameters only
    )
    return Q(Exists(below))


def _decide(user) -> list[int]:
    now = timezone.now()
    enabled = list(ApprovalRule.objects.filter(enabled=True).order_by("priority"))
    groups = set(user.groups.values_list("pk", flat=True))
    reach = _reachable(user, now, groups, enabled)
    if reach is None:
        return []
    found = list(
        CallAuthorisation.objects.filter(reach, state=CallState.PENDING, expires_at__gt=now)
        .exclude(identity__person=user)
        .exclude(actor__person=user)
        .exclude(Exists(current_ownerships().filter(identity=OuterRef("identity"), person=user)))
        .select_related("identity", "actor", "tool")
        .order_by("requested_at", "pk")[:LIMIT]
    )
    owners, accountable = defaultdict(set), {}
    rows = current_ownerships().filter(identity_id__in={c.identity_id for c in found}).order_by("pk")
    for identity_id, person_id, role in rows.values_list("identity_id", "person_id", "role"):
        owners[identity_id].add(person_id)
        if role == OwnershipRole.ACCOUNTABLE:
            accountable.setdefault(identity_id, person_id)
    people = _People()
    ids = []
    for call in found:
        group_id = group_for(call, enabled)
        candidate = people.candidate(user.pk, group_id)
        asked = asked_for_call(call, owners[call.identity_id])
        if not rules.may_decide(candidate, asked):
            continue
        if candidate.in_approver_group:
            ids.append(call.pk)
            continue
        start = people.manager_of.get(accountable[call.identity_id]) if call.identity_id in accountable else None
        routed = rules.route(
            start,
            delegate_of=people.delegate_of,
            manager_of=people.manager_of,
            eligible=lambda person, asked=asked, group_id=group_id: rules.may_decide(
                people.candidate(person, group_id), asked
            ),
        )
        if routed.person == user.pk:
            ids.append(call.pk)
    return ids


def calls_to_decide(user) -> list[int]:
    """Ids of the pending, unlapsed calls `user` may approve or deny now, oldest first."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if not hasattr(user, _CACHE_ATTR):
        setattr(user, _CACHE_ATTR, _decide(user))
    return getattr(user, _CACHE_ATTR)
