"""Scheduled clean-up of the runtime. Correctness never waits on these: decisions check the clock and the
database themselves; these only keep storage in shape. Both are safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from agentiam.tasks import maintain_partitions
from identities.runtime.models import JtiLedgerEntry


@shared_task(name="identities.runtime.tasks.maintain_decision_partitions", ignore_result=True)
def maintain_decision_partitions() -> dict[str, list[str]]:
    """The name beat used before every partitioned table registered with `agentiam.partitions`: kept, doing
    what `agentiam.tasks.maintain_partitions` does, for messages already queued and schedules already stored
    in django-celery-beat's table (which keeps entries the settings no longer name)."""
    return maintain_partitions()


@shared_task(name="identities.runtime.tasks.forget_used_assertions", ignore_result=True)
def forget_used_assertions() -> int:
    """Hourly: an expired client assertion is refused for its expiry anyway, so its jti can be forgotten."""
    deleted, _ = JtiLedgerEntry.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted
