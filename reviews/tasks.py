"""Beat tasks of reviews."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from reviews import notifications
from reviews.services import requests_expire
from reviews.services.breakglass import break_glass_escalate
from reviews.services.cadence import campaigns_tick


@shared_task(name="reviews.tasks.expire_requests", ignore_result=True)
def expire_requests() -> int:
    """Mark pending elevation requests past their expiry as expired and tell their requesters, in one
    transaction (idempotent: decisions check the clock, each requester is told once)."""
    with transaction.atomic():
        expired = requests_expire()
        notifications.notify_expired()
    return expired


@shared_task(name="reviews.tasks.remind_pending", ignore_result=True)
def remind_pending() -> int:
    """Remind approvers of pending requests about to expire, once each (safe to run twice: deduplicated)."""
    return notifications.remind_due()


@shared_task(name="reviews.tasks.escalate_break_glass", ignore_result=True)
def escalate_break_glass() -> int:
    """Tell security of break-glass reviews left open too long (idempotent: each is escalated once)."""
    return break_glass_escalate()


@shared_task(name="reviews.tasks.campaign_cadence", ignore_result=True)
def campaign_cadence() -> dict[str, int]:
    """Open campaign runs: revoked-elsewhere items, reviewers who left, escalation, reminder digests and the
    no-answer outcome at the deadline (each guarded by the state it starts from: safe to run twice)."""
    return campaigns_tick()
