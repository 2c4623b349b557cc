"""Daily partitions of the decision log: created ahead, dropped past retention.

DDL runs on the schema owner's connection when DATABASE_OWNER_URL is configured (the app's role owns no
table and may not create one), else on the default connection. Dropping a partition is the only way rows
leave the log, and each drop is written to the audit trail with the number of decisions it held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connections

from audit.trail import audit_record_now

PARENT = "runtime_policydecision"
_NAME = re.compile(rf"^{PARENT}_p(\d{{8}})$")


def _connection():
    return connections["owner" if "owner" in settings.DATABASES else "default"]


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def existing_partitions() -> dict[date, str]:
    with _connection().cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = {}
    for name in names:
        match = _NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return found


def create_partitions(first: date, days: int) -> list[str]:
    """Partitions for `days` days from `first` that do not exist yet; returns the names created."""
    have = existing_partitions()
    created = []
    with _connection().cursor() as cursor:
        for offset in range(days):
            day = first + timedelta(days=offset)
            if day in have:
                continue
            # IF NOT EXISTS: two workers racing to self-heal both succeed.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
                [_start(day), _start(day + timedelta(days=1))],
            )
            created.append(partition_name(day))
    return created


@dataclass(frozen=True)
class Maintenance:
    created: list[str]
    dropped: list[str]


def drop_partitions_before(cutoff: date) -> list[str]:
    """Drop the partitions whose whole day is before `cutoff`, auditing each with its row count."""
    dropped = []
    for day, name in sorted(existing_partitions().items()):
        if day >= cutoff:
            continue
        with _connection().cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - a name we generated and matched
            rows = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {name}")
        audit_record_now(
            actor=None,
            action="policy_decision.partition_drop",
            object_type="runtime.policydecision",
            object_id=name,
            object_label=f"decision log of {day:%Y-%m-%d}",
            changes={
                "day": day.isoformat(),
                "decisions": rows,
                "retention_days": settings.RUNTIME_DECISION_RETENTION_DAYS,
            },
        )
        dropped.append(name)
    return dropped


def maintain(today: date | None = None) -> Maintenance:
    today = today or datetime.now(UTC).date()
    created = create_partitions(today - timedelta(days=1), settings.RUNTIME_DECISION_PARTITIONS_AHEAD + 2)
    dropped = drop_partitions_before(today - timedelta(days=settings.RUNTIME_DECISION_RETENTION_DAYS))
    return Maintenance(created, dropped)
