"""One outbox: a message written in the caller's transaction, delivered afterwards, at least once.

    with transaction.atomic():
        ...  # the change that calls for a notification
        outbox.enqueue(kind="webhook", destination=url, payload={...}, dedupe_key=f"jit-approved:{grant.uuid}")
        audit_record(...)

If the transaction rolls back, nothing is sent; once it commits the message is handed to the worker
(`agentiam.tasks.deliver_outbox`) and, should the broker be down, the beat sweep (`sweep_outbox`) finds it.
Delivery claims one row at a time with `SELECT … FOR UPDATE SKIP LOCKED` and keeps the lock while it
delivers, so two workers never send the same message at once; a worker that dies mid-delivery leaves the
row pending, and it is sent again — at least once. Receivers deduplicate on the message's uuid (webhooks
carry it in `X-AgentIAM-Delivery`); `dedupe_key` makes enqueuing the same thing twice a no-op.

Channels (`register_channel(kind, deliver)`) do the sending: `agentiam.notifications` registers "email"
and "webhook". A channel raises `DeliveryFailed(permanent=True)` for what no retry can fix; any other
failure is retried with exponential backoff until OUTBOX_MAX_ATTEMPTS. A message that finally fails sends
`message_failed` inside the delivery's transaction; the audit app writes an audit entry for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from agentiam.celery import app as celery_app
from agentiam.models import OutboxMessage

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
# Sent with `message` (an OutboxMessage just marked failed) inside the transaction that marked it.
message_failed = Signal()


class OutboxError(RuntimeError):
    pass


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


_CHANNELS: dict[str, Callable[[OutboxMessage], None]] = {}


def register_channel(kind: str, deliver: Callable[[OutboxMessage], None]) -> None:
    _CHANNELS[kind] = deliver


def unregister_channel(kind: str) -> None:
    _CHANNELS.pop(kind, None)


def enqueue(
    *,
    kind: str,
    destination: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    deliver_at: datetime | None = None,
) -> OutboxMessage:
    """Write a message in the caller's transaction; with a `dedupe_key` already used, the existing one.
    `deliver_at` holds it back until then (a digest that collects what arrives meanwhile): the beat sweep
    sends it once due."""
    if not connection.in_atomic_block:
        raise OutboxError("outbox.enqueue must run inside the transaction that decided to send the message")
    if kind not in _CHANNELS:
        raise OutboxError(f"no outbox channel {kind!r} is registered")
    message = OutboxMessage(kind=kind, destination=destination, payload=payload, dedupe_key=dedupe_key or None)
    if deliver_at is not None:
        message.next_attempt_at = deliver_at
    if dedupe_key:
        # ON CONFLICT DO NOTHING: a concurrent enqueue of the same key waits for ours, then finds it.
        OutboxMessage.objects.bulk_create([message], ignore_conflicts=True)
        message = OutboxMessage.objects.get(dedupe_key=dedupe_key)
    else:
        message.save()
    if message.status == Status.PENDING and message.next_attempt_at <= timezone.now():
        transaction.on_commit(lambda: _publish(message.pk))
    return message


def _publish(message_id: int) -> None:
    try:
        # By name: agentiam.tasks imports this module, so importing it here would make a cycle.
        celery_app.send_task("agentiam.tasks.deliver_outbox", args=[message_id])
    except Exception:  # the broker is down: the beat sweep delivers it later; never fail a committed request
        log.warning("outbox message %s not handed to the worker; the sweep will deliver it", message_id, exc_info=True)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: RETRY_BASE * 2^(attempts-1), at most RETRY_MAX."""
    return timedelta(seconds=min(settings.OUTBOX_RETRY_BASE * 2 ** (attempts - 1), settings.OUTBOX_RETRY_MAX))


def deliver_due(*, limit: int = 200, message_id: int | None = None) -> dict[str, int]:
    """Deliver up to `limit` due messages (or just `message_id`, when due), one transaction each."""
    done = {Status.DELIVERED: 0, Status.PENDING: 0, Status.FAILED: 0}
    for _ in range(limit):
        with transaction.atomic():
            due = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
                status=Status.PENDING, next_attempt_at__lte=timezone.now()
            )
            if message_id is not None:
                due = due.filter(pk=message_id)
            message = due.order_by("next_attempt_at", "pk").first()
            if message is None:
                break
            done[_attempt(message)] += 1
    return {str(status): count for status, count in done.items()}


def _attempt(message: OutboxMessage) -> str:
    message.attempts += 1
    deliver = _CHANNELS.get(message.kind)
    try:
        if deliver is None:
            raise DeliveryFailed(f"no outbox channel {message.kind!r} is registered", permanent=True)
        deliver(message)
    except Exception as error:
        permanent = isinstance(error, DeliveryFailed) and error.permanent
        message.last_error = (str(error) or type(error).__name__)[:2000]
        if permanent or message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            message.status, message.failed_at = Status.FAILED, timezone.now()
            message.save()
            message_failed.send(sender=OutboxMessage, message=message)  # audited: the transaction's last write
        else:
            message.next_attempt_at = timezone.now() + backoff(message.attempts)
            message.save()
        error_text = message.last_error.replace(message.destination, message.shown_destination)
        log.warning("outbox %s %s attempt %s failed: %s", message.kind, message.uuid, message.attempts, error_text)
        return message.status
    message.status, message.delivered_at, message.last_error = Status.DELIVERED, timezone.now(), ""
    message.save()
    return message.status


def purge(now=None) -> int:
    """Delete delivered and failed messages older than OUTBOX_RETENTION_DAYS; pending ones always stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    done = OutboxMessage.objects.filter(status__in=[Status.DELIVERED, Status.FAILED], created_at__lt=cutoff)
    deleted, _ = done.delete()
    return deleted
