"""`manage.py outbox`: what the outbox holds — messages by channel and status, how long the oldest pending
one has waited, and the latest failures with their errors (each failure is in the audit trail as well)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone

from agentiam.models import OutboxMessage

Status = OutboxMessage.Status


class Command(BaseCommand):
    help = "Show the outbox: messages by channel and status, the oldest pending one, the latest failures."

    def add_arguments(self, parser):
        parser.add_argument("--failures", type=int, default=10, help="how many of the latest failures to list")

    def handle(self, *args, failures: int, **options):
        rows = OutboxMessage.objects.values("kind", "status").annotate(n=Count("pk")).order_by("kind", "status")
        if not rows:
            self.stdout.write("The outbox is empty.")
            return
        for row in rows:
            self.stdout.write(f"{row['kind']:<12} {row['status']:<10} {row['n']}")
        oldest = OutboxMessage.objects.filter(status=Status.PENDING).aggregate(at=Min("created_at"))["at"]
        if oldest is not None:
            self.stdout.write(f"oldest pending: {int((timezone.now() - oldest).total_seconds())} s")
        latest = OutboxMessage.objects.filter(status=Status.FAILED).order_by("-failed_at")[:failures]
        for message in latest:
            error = message.last_error.replace(message.destination, message.shown_destination)
            self.stdout.write(
                f"failed {message.failed_at:%Y-%m-%d %H:%M:%S} {message.uuid} {message.kind} to "
                f"{message.shown_destination} after {message.attempts} attempts: {error}"
            )
