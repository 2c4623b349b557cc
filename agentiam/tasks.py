import logging
import os
import socket

from celery import shared_task
from django.utils import timezone

from agentiam import outbox, partitions
from agentiam.models import Heartbeat

log = logging.getLogger(__name__)


@shared_task(name="agentiam.tasks.heartbeat", ignore_result=True)
def heartbeat(component: str = "worker") -> None:
    """Record that a worker consumed a task from the broker; the dashboard shows its age."""
    Heartbeat.objects.update_or_create(
        component=component,
        defaults={"last_seen": timezone.now(), "hostname": socket.gethostname(), "pid": os.getpid()},
    )


@shared_task(name="agentiam.tasks.maintain_partitions", ignore_result=True)
def maintain_partitions() -> dict[str, list[str]]:
    """Hourly: every registered partitioned table has its partitions ahead; those past retention go.
    Safe to run twice (creation is IF NOT EXISTS, a dropped partition is no longer listed)."""
    done = partitions.maintain_all()
    if done.created or done.dropped:
        log.info("partitions: created %s, dropped %s", done.created, done.dropped)
    return {"created": done.created, "dropped": done.dropped}


@shared_task(name="agentiam.tasks.deliver_outbox", ignore_result=True, acks_late=True)
def deliver_outbox(message_id: int) -> dict[str, int]:
    """Right after the enqueuing transaction commits: deliver that message if it is still due. A second
    delivery of this task finds the row locked (skipped) or no longer pending."""
    return outbox.deliver_due(limit=1, message_id=message_id)


@shared_task(name="agentiam.tasks.sweep_outbox", ignore_result=True)
def sweep_outbox() -> dict[str, int]:
    """Every 30 s: deliver every due message (retries, and any whose hand-off to the worker was lost), then
    delete delivered and failed ones past OUTBOX_RETENTION_DAYS."""
    done = outbox.deliver_due()
    done["purged"] = outbox.purge()
    return done
