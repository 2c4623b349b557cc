"""Beat tasks of reviews."""

from __future__ import annotations

from celery import shared_task

from reviews import notifications
from reviews.services import requests_expire


@shared_task(name="reviews.tasks.expire_requests", ignore_result=True)
def expire_requests() -> int:
    """Mark pending elevation requests past their expiry as expired (idempotent; decisions check the clock)."""
    return requests_expire()


@shared_task(name="reviews.tasks.remind_pending", ignore_result=True)
def remind_pending() -> int:
    """Remind approvers of pending requests about to expire, once each (safe to run twice: deduplicated)."""
    return notifications.remind_due()
