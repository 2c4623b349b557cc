"""The partition manager (agentiam.partitions): any time-partitioned append-only table registers once and
gets its partitions created ahead and dropped past retention; the decision log is one such table."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from agentiam import partitions
from agentiam.partitions import Interval, PartitionedTable
from agentiam.tasks import maintain_partitions
from audit.models import AuditEntry
from identities.runtime.partitions import DECISION_LOG
from identities.runtime.tasks import maintain_decision_partitions

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    """A partitioned table of the test's own, registered for the test (the DDL rolls back with it)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_events (at timestamptz NOT NULL, what text) PARTITION BY RANGE (at)")
    dropped = []
    table = partitions.register(
        PartitionedTable(
            table="test_events", key="at", interval=Interval.DAY, retention_days=3, ahead=2, on_drop=dropped.append
        )
    )
    yield table, dropped
    partitions.unregister("test_events")


def insert(table: str, at: datetime, rows: int = 1) -> None:
    with connection.cursor() as cursor:
        for _ in range(rows):
            cursor.execute(f"INSERT INTO {table} (at, what) VALUES (%s, 'x')", [at])  # noqa: S608


def test_a_registered_table_gets_its_partitions_listed_created_and_dropped(events):
    table, dropped = events
    assert table in partitions.registered() and DECISION_LOG in partitions.registered()
    assert table.existing() == {}
    created = table.create(date(2026, 3, 1), 3)
    assert created == ["test_events_p20260301", "test_events_p20260302", "test_events_p20260303"]
    assert table.create(date(2026, 3, 2), 3) == ["test_events_p20260304"]  # only what is missing
    assert sorted(table.existing()) == [date(2026, 3, d) for d in (1, 2, 3, 4)]
    insert("test_events", datetime(2026, 3, 1, 23, 59, tzinfo=UTC), rows=2)
    insert("test_events", datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    assert table.drop_before(date(2026, 3, 3)) == ["test_events_p20260301", "test_events_p20260302"]
    assert [(d.name, d.start, d.rows, d.retention_days) for d in dropped] == [
        ("test_events_p20260301", date(2026, 3, 1), 2, 3),
        ("test_events_p20260302", date(2026, 3, 2), 1, 3),
    ]
    assert sorted(table.existing()) == [date(2026, 3, 3), date(2026, 3, 4)]


def test_maintenance_creates_ahead_drops_past_retention_and_is_safe_to_run_twice(events):
    table, dropped = events
    today = datetime.now(UTC).date()
    table.create(today - timedelta(days=10), 1)
    insert("test_events", datetime.combine(today - timedelta(days=10), datetime.min.time(), UTC))
    result = maintain_partitions()
    assert set(table.existing()) == {today + timedelta(days=n) for n in (-1, 0, 1, 2)}
    assert "test_events_p" + f"{today - timedelta(days=10):%Y%m%d}" in result["dropped"]
    assert [d.rows for d in dropped] == [1]
    assert maintain_partitions() == {"created": [], "dropped": []}


def test_monthly_partitions_cover_whole_calendar_months():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE test_monthly (at timestamptz NOT NULL, what text) PARTITION BY RANGE (at)")
    table = PartitionedTable(table="test_monthly", key="at", interval=Interval.MONTH, retention_days=40, ahead=1)
    created = table.create(date(2025, 12, 15), 3)
    assert created == ["test_monthly_p202512", "test_monthly_p202601", "test_monthly_p202602"]
    insert("test_monthly", datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    insert("test_monthly", datetime(2026, 2, 1, tzinfo=UTC))
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM test_monthly ORDER BY at")
        assert [name for (name,) in cursor.fetchall()] == ["test_monthly_p202601", "test_monthly_p202602"]
    # Retention counts from the end of a partition's range: January goes only once it is wholly past.
    done = table.maintain(today=date(2026, 3, 10))  # keeps 40 days: from 29 January
    assert done.dropped == ["test_monthly_p202512"] and done.created == ["test_monthly_p202603", "test_monthly_p202604"]
    assert table.maintain(today=date(2026, 3, 13)).dropped == ["test_monthly_p202601"]  # from 1 February
    assert sorted(table.existing()) == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]


def test_only_plain_identifiers_may_be_registered():
    with pytest.raises(ValueError, match="identifier"):
        PartitionedTable(table="events; DROP TABLE x", key="at", interval=Interval.DAY, retention_days=1, ahead=1)


# --- the decision log ------------------------------------------------------------------------------------


def test_decision_log_partitions_are_created_ahead_and_those_past_retention_are_dropped_and_audited(settings):
    settings.RUNTIME_DECISION_RETENTION_DAYS = 30
    settings.RUNTIME_DECISION_PARTITIONS_AHEAD = 10
    today = datetime.now(UTC).date()
    old_day = today - timedelta(days=45)
    DECISION_LOG.create(old_day, 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO runtime_policydecision (uuid, decided_at, token_jti, act_chain, tool_key, action, resource, "
            "evaluated, decision, reasons, latency_us) VALUES (gen_random_uuid(), %s, '', '{}', 't', 'read', '{}', "
            "'{}', 'deny', '{}', 1)",
            [datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=UTC)],
        )
    result = maintain_decision_partitions()  # the task name beat used before the registry: still works
    have = DECISION_LOG.existing()
    assert all(today + timedelta(days=n) in have for n in range(11))
    assert old_day not in have and result["dropped"] == [DECISION_LOG.partition_name(old_day)]
    entry = AuditEntry.objects.get(action="policy_decision.partition_drop")
    assert entry.changes == {"day": old_day.isoformat(), "decisions": 1, "retention_days": 30}
    assert entry.object_id == DECISION_LOG.partition_name(old_day)
    assert (entry.actor_kind, entry.actor_label) == ("job", maintain_partitions.name)
    assert maintain_decision_partitions() == {"created": [], "dropped": []}  # safe to run twice


def test_decision_log_partition_names_follow_the_day():
    assert DECISION_LOG.partition_name(date(2026, 3, 4)) == "runtime_policydecision_p20260304"


def test_beat_maintains_every_registered_table(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == maintain_partitions.name)
    assert entry["schedule"] == 3600.0
