"""Scheduled clean-up of the runtime. Correctness never waits on these: decisions check the clock and the
database themselves; these only keep storage in shape. Both are safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from identities.runtime import partitions
from identities.runtime.models import JtiLedgerEntry

log = logging.getLogger(__name__)


@shared_task(name="identities.runtime.tasks.maintain_decision_partitions", ignore_result=True)
def maintain_decision_partitions() -> dict[str, list[str]]:
    """Hourly: the decision log's partitions for the coming days exist; those past retention are dropped."""
    done = partitions.maintain()
    if done.created or done.dropped:
        log.info("decision log partitions: created %s, dropped %s", done.created, done.dropped)
    return {"created": done.created, "dropped": done.dropped}


@shared_task(name="identities.runtime.tasks.forget_used_assertions", ignore_result=True)
def forget_used_assertions() -> int:
    """Hourly: an expired client assertion is refused for its expiry anyway, so its jti can be forgotten."""
    deleted, _ = JtiLedgerEntry.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
