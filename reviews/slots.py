"""reviews' panels on other apps' pages (agentiam.slots): on the identity page, its open elevation requests,
the latest closed ones and, for a person who may change it, the way to ask for more."""

from __future__ import annotations

from agentiam import slots
from identities.models import IdentityStatus, standing
from identities.rules import Right, may
from reviews.inbox_queries import requests_visible_to
from reviews.models import RequestState

SHOWN = 5


def identity_elevation(request, identity) -> dict | None:
    may_ask = identity.status == IdentityStatus.ACTIVE and may(Right.CHANGE, standing(identity, request.user)).allowed
    rows = list(
        requests_visible_to(request.user)
        .filter(identity=identity)
        .select_related("task", "requested_by", "requested_by_identity")
        .order_by("-created_at")[: SHOWN + 1]
    )
    if not rows and not may_ask:
        return None
    return {
        "identity": identity,
        "elevation_rows": rows[:SHOWN],
        "elevation_more": len(rows) > SHOWN,
        "pending": sum(1 for row in rows if row.state == RequestState.PENDING),
        "may_ask": may_ask,
    }


slots.register(slots.Slot("identity_detail", "elevation_requests", "reviews/_identity_panel.html", identity_elevation,
                            order=10))  # fmt: skip
