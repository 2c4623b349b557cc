"""The recorders of refused requests (registered with agentiam.refusals from AuditConfig.ready):

- an authenticated caller refused a write → one `<what>.refused` entry in the chained trail, naming who
  (the person or identity), what (the route's action, method and path) and why (the refusal's reason), in
  its own transaction after the refused one rolled back;
- unauthenticated traffic → a `SecurityEvent` row, never the trail; at most SECURITY_EVENTS_PER_WINDOW rows
  per source address and kind in each SECURITY_EVENT_WINDOW seconds, counted in Redis, the next window's
  first row carrying how many the window before left out. If Redis does not answer, the row is written.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from agentiam.refusals import Probe, Refusal
from audit import actors
from audit.models import SecurityEvent
from audit.trail import audit_record

logger = logging.getLogger(__name__)


def _source(request) -> str | None:
    return (request.META.get("REMOTE_ADDR") or None) if request is not None else None


def record_refusal(refusal: Refusal) -> None:
    if connection.needs_rollback:  # still inside a broken transaction: nothing can be written here
        logger.warning("refusal of %s not recorded: the transaction is broken", refusal.what)
        return
    user, request = refusal.user, refusal.request
    actor = user if getattr(user, "pk", None) is not None else actors.Actor(actors.IDENTITY, str(user.label))
    path = request.path[:300]
    match = getattr(request, "resolver_match", None)
    on = {name: str(value)[:80] for name, value in (match.kwargs if match is not None else {}).items()}
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=f"{refusal.what[:72]}.refused",
            object_type="request",
            object_id=next(iter(on.values()), ""),  # the object the route names (its id or uuid), if one
            object_label=f"{request.method} {path}"[:300],
            changes={
                "method": request.method,
                "path": path,
                "on": on,
                "status": refusal.status,
                "reason": refusal.reason,
            },
            request=request,
        )


def _admit(kind: str, source: str | None) -> tuple[bool, int]:
    """(write this one?, events of this source and kind left out in the window before)."""
    window = settings.SECURITY_EVENT_WINDOW
    limit = settings.SECURITY_EVENTS_PER_WINDOW
    now = int(timezone.now().timestamp()) // window
    key = f"audit:security-event:{kind}:{source}:"
    try:
        cache.add(key + str(now), 0, timeout=window * 3)
        seen = cache.incr(key + str(now))
        if seen > limit:
            return False, 0
        before = (cache.get(key + str(now - 1)) or 0) if seen == 1 else 0
    except Exception:  # Redis down: keep the event, unlimited for now
        logger.warning("security-event rate limit unavailable", exc_info=True)
        return True, 0
    return True, max(0, before - limit)


def record_probe(probe: Probe) -> None:
    if connection.needs_rollback:
        return
    request = probe.request
    source = _source(request)
    write, suppressed = _admit(probe.kind, source)
    if not write:
        return
    SecurityEvent.objects.create(
        kind=probe.kind[:60],
        source=source,
        method=(getattr(request, "method", "") or "")[:10],
        path=getattr(request, "path", "")[:300],
        detail=probe.detail[:300],
        suppressed_before=suppressed,
        request_id=(getattr(request, "request_id", "") or "")[:64],
    )
