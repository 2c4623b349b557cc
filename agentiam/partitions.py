"""Time-partitioned, append-only tables: partitions created ahead, dropped past retention.

An app whose table is `PARTITION BY RANGE (<timestamptz column>)` registers it once, usually at import of
the module that owns the table (loaded from its AppConfig.ready()):

    DECISION_LOG = partitions.register(PartitionedTable(
        table="runtime_policydecision", key="decided_at", interval=Interval.DAY,
        retention_days=lambda: settings.RUNTIME_DECISION_RETENTION_DAYS,
        ahead=lambda: settings.RUNTIME_DECISION_PARTITIONS_AHEAD,
        on_drop=audit_the_drop,
    ))

`maintain_all()` (the beat task `agentiam.tasks.maintain_partitions`, hourly) keeps every registered table
in shape. Partitions are named `<table>_p<YYYYMMDD>` (daily) or `<table>_p<YYYYMM>` (monthly), in UTC.
Dropping a partition is the only way rows leave such a table; `on_drop` is called with what was dropped
and its row count (the registering app audits it: this module imports no app).

DDL runs on the schema owner's connection when DATABASE_OWNER_URL is configured (the app's role owns no
table and may not create one), else on the default connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import connections

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")


class Interval(StrEnum):
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True)
class Dropped:
    table: str
    name: str
    start: date
    rows: int
    retention_days: int


def _value(value: int | Callable[[], int]) -> int:
    return value() if callable(value) else value


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    key: str
    interval: Interval
    retention_days: int | Callable[[], int]  # a partition goes once its whole range is older than this
    ahead: int | Callable[[], int]  # intervals created ahead of the current one
    on_drop: Callable[[Dropped], None] | None = None

    def __post_init__(self):
        for name in (self.table, self.key):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")

    # --- naming and ranges -------------------------------------------------------------------------------

    def floor(self, day: date) -> date:
        """The first day of the interval holding `day`."""
        return day if self.interval is Interval.DAY else day.replace(day=1)

    def following(self, start: date) -> date:
        if self.interval is Interval.DAY:
            return start + timedelta(days=1)
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)

    def partition_name(self, day: date) -> str:
        start = self.floor(day)
        return f"{self.table}_p{start:%Y%m%d}" if self.interval is Interval.DAY else f"{self.table}_p{start:%Y%m}"

    def _parse(self, name: str) -> date | None:
        digits = 8 if self.interval is Interval.DAY else 6
        match = re.fullmatch(rf"{self.table}_p(\d{{{digits}}})", name)
        if not match:
            return None
        text = match.group(1) if self.interval is Interval.DAY else match.group(1) + "01"
        return datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC).date()

    # --- what exists, create, drop --------------------------------------------------------------------------

    def existing(self) -> dict[date, str]:
        """The table's partitions by the first day of their range."""
        with _connection().cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
                [self.table],
            )
            names = [name for (name,) in cursor.fetchall()]
        found = {}
        for name in names:
            start = self._parse(name)
            if start is not None:
                found[start] = name
        return found

    def create(self, first: date, count: int) -> list[str]:
        """Partitions for `count` intervals from the one holding `first` that do not exist yet; returns the
        names created."""
        have = self.existing()
        created = []
        start = self.floor(first)
        with _connection().cursor() as cursor:
            for _ in range(count):
                end = self.following(start)
                if start not in have:
                    # IF NOT EXISTS: two workers racing to self-heal both succeed.
                    cursor.execute(
                        f"CREATE TABLE IF NOT EXISTS {self.partition_name(start)} PARTITION OF {self.table} "
                        "FOR VALUES FROM (%s) TO (%s)",
                        [_midnight(start), _midnight(end)],
                    )
                    created.append(self.partition_name(start))
                start = end
        return created

    def drop_before(self, cutoff: date) -> list[str]:
        """Drop the partitions whose whole range is before `cutoff`, reporting each to `on_drop`."""
        dropped = []
        retention = _value(self.retention_days)
        for start, name in sorted(self.existing().items()):
            if self.following(start) > cutoff:
                continue
            with _connection().cursor() as cursor:
                cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 - a name we generated and matched
                rows = cursor.fetchone()[0]
                cursor.execute(f"DROP TABLE {name}")
            if self.on_drop is not None:
                self.on_drop(Dropped(self.table, name, start, rows, retention))
            dropped.append(name)
        return dropped

    def maintain(self, today: date | None = None) -> Maintenance:
        """The previous, current and `ahead` next intervals exist; those past retention are gone."""
        today = today or datetime.now(UTC).date()
        previous = self.floor(self.floor(today) - timedelta(days=1))
        created = self.create(previous, _value(self.ahead) + 2)
        dropped = self.drop_before(today - timedelta(days=_value(self.retention_days)))
        return Maintenance(created, dropped)


@dataclass(frozen=True)
class Maintenance:
    created: list[str]
    dropped: list[str]


_REGISTRY: dict[str, PartitionedTable] = {}


def register(table: PartitionedTable) -> PartitionedTable:
    """Register (or re-register, e.g. on a module reload) a partitioned table; returns it."""
    _REGISTRY[table.table] = table
    return table


def unregister(table: str) -> None:
    _REGISTRY.pop(table, None)


def registered() -> list[PartitionedTable]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def maintain_all(today: date | None = None) -> Maintenance:
    """Maintain every registered table; the names created and dropped across all of them."""
    created, dropped = [], []
    for table in registered():
        done = table.maintain(today)
        created += done.created
        dropped += done.dropped
    return Maintenance(created, dropped)


def _connection():
    return connections["owner" if "owner" in settings.DATABASES else "default"]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
