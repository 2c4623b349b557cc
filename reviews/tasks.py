"""Beat tasks of reviews."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviews import notifications
from reviews.services import requests_expire
from reviews.services.breakglass import break_glass_escalate
from reviews.services.cadence import campaigns_tick
from reviews.services.launching import launch_campaign_run


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


@shared_task(name="reviews.tasks.resume_campaign_launches", ignore_result=True)
def resume_campaign_launches() -> int:
    """Hand launches whose worker went quiet (killed, restarted) to a worker again (beat; safe to repeat)."""
    from reviews.models import CampaignRun

    stale = timezone.now() - timedelta(seconds=settings.REVIEWS_CAMPAIGN_STALE_SECONDS)
    quiet = CampaignRun.objects.filter(state="launching").filter(
        Q(launch_heartbeat_at__lt=stale) | Q(launch_heartbeat_at__isnull=True, launched_at__lt=stale)
    )
    runs = [str(uuid) for uuid in quiet.values_list("uuid", flat=True)]
    for run in runs:
        launch_campaign_run.delay(run)
    return len(runs)


@shared_task(name="reviews.tasks.launch_scheduled_campaign", ignore_result=True)
def launch_scheduled_campaign(campaign: str) -> str:
    """A recurring campaign's schedule fired: launch a run, unless one is launching or the definition refuses
    (archived, nothing in scope), which the audit trail records."""
    from agentiam.errors import Conflict, ValidationError
    from reviews.models import Campaign
    from reviews.services.campaigns import campaign_launch, campaign_launch_skipped

    found = Campaign.objects.filter(uuid=campaign).first()
    if found is None:
        return ""
    try:
        return str(campaign_launch(campaign=found, actor=None).uuid)
    except (Conflict, ValidationError) as refusal:
        campaign_launch_skipped(campaign=found, reason=str(refusal))
        return ""
