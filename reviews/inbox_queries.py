"""The browser pages' view of reviews.selectors: which requests a person may see, and which wait for their
decision — the latter asked once per request and kept on the user object, since the navigation's count, the
page and the work list all ask it."""

from __future__ import annotations

from django.db.models import QuerySet

from reviews import selectors
from reviews.models import ElevationRequest

__all__ = ["deciding_ids", "forget", "requests_to_decide", "requests_visible_to"]

_CACHE_ATTR = "_reviews_deciding"


def forget(user) -> None:
    """Drop the answer cached on the user object for this request (after they decided something)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def deciding_ids(user) -> list[int]:
    """Ids of the pending requests `user` may approve or deny now (selectors.requests_to_decide)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    if not hasattr(user, _CACHE_ATTR):
        setattr(user, _CACHE_ATTR, list(selectors.requests_to_decide(user).values_list("pk", flat=True)))
    return getattr(user, _CACHE_ATTR)


def requests_to_decide(user) -> QuerySet[ElevationRequest]:
    return ElevationRequest.objects.filter(pk__in=deciding_ids(user))


def requests_visible_to(user) -> QuerySet[ElevationRequest]:
    return selectors.requests_visible_to(user)
