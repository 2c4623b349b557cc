"""Who may see an elevation request, written once (pure, like identities.rules and reviews.rules).

A person sees a request when any of these holds (`Viewer` carries the facts, `may_see` answers, and
`where(roles, relations)` compiles the same conditions into a `Q` for reviews.selectors, so a list and a
yes/no cannot disagree; tests/reviews/test_visibility.py walks the matrix):

- a see-everything role (administrator, compliance officer, security analyst, auditor): every request,
  read-only unless another right applies;
- they made it (`requested`);
- they are a current owner of the identity and hold the identity-owner role (`owns`), as for the identity;
- they hold the manager role and manage a current owner of the identity (`manages_an_owner`);
- they decided it (`decided`: an approval or a deny of theirs);
- the request is pending and they are in its rule's approver group (`in_group`);
- the request is pending, they hold the manager role, and routing can reach them (`in_chain`): they
  manage, directly or up to MAX_HOPS levels above, its accountable owner, or stand in through live
  delegations for someone who does.

Nobody else sees it: a forbidden request is a 404, never a leak."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q

from agentiam.permissions import SEE_EVERYTHING, Role
from identities.rules import Answer

__all__ = ["ERR_NOT_VISIBLE", "Relations", "Viewer", "may_see", "where"]

ERR_NOT_VISIBLE = "You may not see this elevation request."


@dataclass(frozen=True)
class Viewer:
    """How one person stands to one request."""

    roles: frozenset[Role]
    requested: bool = False
    owns: bool = False
    manages_an_owner: bool = False
    decided: bool = False
    in_group: bool = False  # pending, and they are in its rule's approver group
    in_chain: bool = False  # pending, and routing can reach them (managers above, delegations)


def may_see(viewer: Viewer) -> Answer:
    roles = viewer.roles
    if (
        roles & SEE_EVERYTHING
        or viewer.requested
        or viewer.decided
        or viewer.in_group
        or (Role.IDENTITY_OWNER in roles and viewer.owns)
        or (Role.MANAGER in roles and (viewer.manages_an_owner or viewer.in_chain))
    ):
        return Answer(True)
    return Answer(False, ERR_NOT_VISIBLE)


@dataclass(frozen=True)
class Relations:
    """How `where()` says each fact of a `Viewer` in a query over requests."""

    requested: Callable[[], Q]
    owns: Callable[[], Q]
    manages_an_owner: Callable[[], Q]
    decided: Callable[[], Q]
    in_group: Callable[[], Q]
    in_chain: Callable[[], Q]


def where(roles: frozenset[Role], relations: Relations) -> bool | Q:
    """The requests a person with `roles` may see: True (all) or a Q (`may_see`, compiled)."""
    if roles & SEE_EVERYTHING:
        return True
    found = relations.requested() | relations.decided() | relations.in_group()
    if Role.IDENTITY_OWNER in roles:
        found |= relations.owns()
    if Role.MANAGER in roles:
        found |= relations.manages_an_owner() | relations.in_chain()
    return found
