"""reviews' work for a person (agentiam.worklist): elevation requests waiting for their decision. Registered
from ReviewsConfig.ready(); any role may be an approver (a member of a rule's approver group need not be a
manager), so the source asks reviews.rules rather than a role."""

from __future__ import annotations

from django.db.models import Count, Min
from django.urls import reverse

from agentiam import worklist
from agentiam.worklist import WorkItem, WorkSource
from reviews.inbox_queries import deciding_ids, requests_to_decide


def elevation_inbox(person) -> list[WorkItem]:
    if not deciding_ids(person):
        return []
    found = requests_to_decide(person).aggregate(count=Count("pk"), oldest=Min("created_at"))
    url = reverse("reviews:inbox")
    return [WorkItem("elevation_inbox", "Elevation requests to decide", url, found["count"], found["oldest"])]


worklist.register(WorkSource("elevation_inbox", elevation_inbox, order=5))
