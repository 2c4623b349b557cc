"""Where per-call approvals appear outside their own page: the elevation inbox's `elevation_inbox` slot (the
calls waiting for this manager, and the path's latency) and the manager's work list. Registered from
ReviewsConfig.ready()."""

from __future__ import annotations

from django.urls import reverse

from agentiam import slots, worklist
from agentiam.worklist import WorkItem, WorkSource
from reviews.call_queries import calls_to_decide
from reviews.views_calls import CALL_DECIDERS, decorate, latency_context, pending_calls


def decidable_calls(person):
    """Pending calls routed to `person` now (or to their approver group), as the services decide them."""
    return pending_calls(person).filter(pk__in=calls_to_decide(person))


def inbox_context(request, _obj) -> dict | None:
    pending = decorate(request, list(decidable_calls(request.user)[:20]))
    return {"pending": pending, **latency_context(request.user)}


def waiting_calls(person) -> list[WorkItem]:
    rows = decidable_calls(person)
    oldest = rows.values_list("requested_at", flat=True).first()
    url = reverse("reviews_calls:list")
    return [WorkItem("per_call", "Agent calls waiting for your approval", url, rows.count(), oldest)]


slots.register(slots.Slot("elevation_inbox", "per_call", "reviews/calls/slot.html", inbox_context, CALL_DECIDERS, 20))
worklist.register(WorkSource("per_call", waiting_calls, roles=CALL_DECIDERS, order=30))
