"""Beat tasks of reviews."""

from __future__ import annotations

from celery import shared_task

from reviews.services import requests_expire


@shared_task(name="reviews.tasks.expire_requests", ignore_result=True)
def expire_requests() -> int:
    """Mark pending elevation requests past their expiry as expired (idempotent; decisions check the clock)."""
    return requests_expire()
