"""The decision log's daily partitions, registered with the platform's partition manager
(`agentiam.partitions`): created ahead, dropped past retention, each drop written to the audit trail with
the number of decisions it held."""

from __future__ import annotations

from django.conf import settings

from agentiam import partitions
from agentiam.partitions import Dropped, Interval, PartitionedTable
from audit import actors
from audit.trail import audit_record_now


def _audit_drop(dropped: Dropped) -> None:
    audit_record_now(
        actor=actors.this_job("agentiam.tasks.maintain_partitions"),
        action="policy_decision.partition_drop",
        object_type="runtime.policydecision",
        object_id=dropped.name,
        object_label=f"decision log of {dropped.start:%Y-%m-%d}",
        changes={
            "day": dropped.start.isoformat(),
            "decisions": dropped.rows,
            "retention_days": dropped.retention_days,
        },
    )


DECISION_LOG = partitions.register(
    PartitionedTable(
        table="runtime_policydecision",
        key="decided_at",
        interval=Interval.DAY,
        retention_days=lambda: settings.RUNTIME_DECISION_RETENTION_DAYS,
        ahead=lambda: settings.RUNTIME_DECISION_PARTITIONS_AHEAD,
        on_drop=_audit_drop,
    )
)
