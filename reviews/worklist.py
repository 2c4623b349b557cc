"""reviews' work for a person (agentiam.worklist): elevation requests waiting for their decision, and
break-glass reviews they may close (reviews.services.breakglass.reviews_to_close). Registered
from ReviewsConfig.ready(); any role may be an approver (a member of a rule's approver group need not be a
manager), so the source asks reviews.rules rather than a role."""

from __future__ import annotations

from django.db.models import Count, Min
from django.urls import reverse

from agentiam import worklist
from agentiam.permissions import Role
from agentiam.worklist import WorkItem, WorkSource
from reviews import attest_reading
from reviews.inbox_queries import deciding_ids, requests_to_decide
from reviews.services.breakglass import CLOSERS, reviews_to_close


def elevation_inbox(person) -> list[WorkItem]:
    if not deciding_ids(person):
        return []
    found = requests_to_decide(person).aggregate(count=Count("pk"), oldest=Min("created_at"))
    url = reverse("reviews:inbox")
    return [WorkItem("elevation_inbox", "Elevation requests to decide", url, found["count"], found["oldest"])]


worklist.register(WorkSource("elevation_inbox", elevation_inbox, order=5))


def break_glass_reviews(person) -> list[WorkItem]:
    """Open after-the-fact reviews this person may close (never their own break-glass, nor one on an identity
    they own), oldest first in the list the item links to."""
    found = reviews_to_close(person).aggregate(count=Count("pk"), oldest=Min("started_at"))
    url = reverse("reviews:break-glass-list") + "?state=open&sort=started"
    title = "Break-glass reviews to close"
    return [WorkItem("break_glass_reviews", title, url, found["count"], found["oldest"])]


worklist.register(WorkSource("break_glass_reviews", break_glass_reviews, roles=CLOSERS, order=8))


def review_items(person) -> list[WorkItem]:
    """Review items waiting for this person's attestation in open campaigns."""
    pending = attest_reading.pending_count(person)
    if not pending:
        return []
    oldest = attest_reading.items_to_review(person).filter(state="pending").aggregate(due=Min("due_at"))["due"]
    return [WorkItem("review_items", "Access to review", reverse("reviews:my_reviews"), pending, oldest)]


worklist.register(WorkSource("review_items", review_items, order=4))  # any role: a fallback group may hold any


def reduces_to_complete(person) -> list[WorkItem]:
    """Privileged reduces reviewers decided that wait for an administrator who does not own the identity; the
    item links to the oldest (completing one leads to the next)."""
    waiting = attest_reading.reduces_waiting_for(person)
    oldest = waiting.order_by("decided_at", "pk").values_list("uuid", "decided_at").first()
    if oldest is None:
        return []
    url = reverse("reviews:item_complete_reduce", args=[oldest[0]])
    return [WorkItem("reduces_to_complete", "Reduced access to complete", url, waiting.count(), oldest[1])]


worklist.register(WorkSource("reduces_to_complete", reduces_to_complete, roles=frozenset({Role.ADMINISTRATOR}),
                             order=9))  # fmt: skip
