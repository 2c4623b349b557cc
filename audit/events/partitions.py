"""The action-event table's daily partitions, registered with the platform's partition manager
(`agentiam.partitions`): created ahead by beat, dropped past EVENTS_RETENTION_DAYS, each drop written to
the audit trail with the number of events it held."""

from __future__ import annotations

from django.conf import settings

from agentiam import partitions
from agentiam.partitions import Dropped, Interval, PartitionedTable
from audit import actors
from audit.trail import audit_record_now

TABLE = "audit_events_actionevent"


def _audit_drop(dropped: Dropped) -> None:
    audit_record_now(
        actor=actors.this_job("agentiam.tasks.maintain_partitions"),
        action="action_event.partition_drop",
        object_type="audit_events.actionevent",
        object_id=dropped.name,
        object_label=f"action events of {dropped.start:%Y-%m-%d}",
        changes={"day": dropped.start.isoformat(), "events": dropped.rows, "retention_days": dropped.retention_days},
    )


EVENT_LOG = partitions.register(
    PartitionedTable(
        table=TABLE,
        key="started_at",
        interval=Interval.DAY,
        retention_days=lambda: settings.EVENTS_RETENTION_DAYS,
        ahead=lambda: settings.EVENTS_PARTITIONS_AHEAD,
        on_drop=_audit_drop,
    )
)
