import os
import socket

from celery import shared_task
from django.utils import timezone

from agentiam.models import Heartbeat


@shared_task(name="agentiam.tasks.heartbeat", ignore_result=True)
def heartbeat(component: str = "worker") -> None:
    """Record that a worker consumed a task from the broker; the dashboard shows its age."""
    Heartbeat.objects.update_or_create(
        component=component,
        defaults={"last_seen": timezone.now(), "hostname": socket.gethostname(), "pid": os.getpid()},
    )
