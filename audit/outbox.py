"""Outbox messages that finally fail are audited: the platform's outbox (agentiam.outbox, below this app)
sends `message_failed` inside the delivery's transaction, and this receiver writes the entry as that
transaction's last statement. Connected from AuditConfig.ready()."""

from __future__ import annotations

from django.dispatch import receiver

from agentiam.outbox import message_failed
from audit import actors
from audit.trail import audit_record


@receiver(message_failed, dispatch_uid="audit-outbox-message-failed")
def audit_failed_message(sender, message, **kwargs) -> None:
    audit_record(
        actor=actors.this_job("agentiam.tasks.deliver_outbox"),
        action="outbox.failed",
        target=message,
        object_label=f"{message.kind} to {message.shown_destination}"[:300],
        changes={
            "kind": message.kind,
            "destination": message.shown_destination,
            "attempts": message.attempts,
            "error": message.last_error.replace(message.destination, message.shown_destination)[:500],
            "dedupe_key": message.dedupe_key or "",
        },
    )
