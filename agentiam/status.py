"""What the dashboard says about the platform itself: every figure is read live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from agentiam.models import Heartbeat

WORKER_STALE_AFTER = 90  # seconds: three missed beats


@dataclass(frozen=True)
class SystemStatus:
    postgres_version: str
    broker_ok: bool
    broker_error: str
    worker_last_seen: datetime | None

    @property
    def worker_age(self) -> float | None:
        if self.worker_last_seen is None:
            return None
        return (timezone.now() - self.worker_last_seen).total_seconds()

    @property
    def worker_ok(self) -> bool:
        return self.worker_age is not None and self.worker_age <= WORKER_STALE_AFTER


def system_status() -> SystemStatus:
    version = connection.cursor().connection.info.server_version
    broker_ok, broker_error = True, ""
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as error:
        broker_ok, broker_error = False, str(error)
    beat = Heartbeat.objects.filter(component="worker").values_list("last_seen", flat=True).first()
    return SystemStatus(
        postgres_version=f"{version // 10000}.{version % 10000}",
        broker_ok=broker_ok,
        broker_error=broker_error,
        worker_last_seen=beat,
    )


@dataclass(frozen=True)
class PersonsSummary:
    active: int
    total: int
    by_status: list[tuple[str, str, int]]  # (status, label, count), every status listed, zeros included


def persons_summary() -> PersonsSummary:
    """Persons by profile status, in one grouped query. The profile lives in `identities`, which this
    package does not import: it is reached through the user's reverse relation."""
    users = get_user_model().objects
    try:
        status_field = users.model._meta.get_field("profile").related_model._meta.get_field("status")
    except FieldDoesNotExist:
        total = users.count()
        active = users.filter(is_active=True).count()
        return PersonsSummary(active=active, total=total, by_status=[("active", "Active", active)])
    counts = {row["profile__status"]: row["n"] for row in users.values("profile__status").annotate(n=Count("id"))}
    by_status = [(value, label, counts.get(value, 0)) for value, label in status_field.choices]
    known = {value for value, _label in status_field.choices}
    unknown = sum(n for value, n in counts.items() if value not in known)
    if unknown:
        by_status.append(("none", "No profile", unknown))
    return PersonsSummary(active=counts.get("active", 0), total=sum(counts.values()), by_status=by_status)
