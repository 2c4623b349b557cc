"""Action events and the keys that may write them.

ActionEvent lives in a table partitioned by day on `started_at` (created with SQL in migration 0001; Django
keeps only its state), so retention drops whole partitions. The database's primary key is (started_at, id);
`id` is the ingest sequence (a detector's high-water mark), unique through its sequence. `uuid` is the
event's idempotency key: the event id of our JSON shape, or a name-based UUID of (trace id, span id) for an
OTLP span, or of (trace id, MCP request id, tool) for an MCP tool call reported by several spans; it is
unique together with `started_at` (PostgreSQL's rule for partitioned tables), and ingest also looks for it
a day either side, so a re-sent event is one row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q

from identities.models import Identity, Task

__all__ = ["ActionEvent", "AgentNameMapping", "IngestKey", "Outcome", "QuarantineReason", "Source", "UsageCursor"]


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    UNSET = "unset", "Not reported"


class Source(models.TextChoices):
    API = "api", "Event API"
    OTLP = "otlp", "OTLP traces"


class QuarantineReason(models.TextChoices):
    UNKNOWN_IDENTITY = "unknown_identity", "No registered identity matches"
    OUT_OF_SCOPE = "out_of_scope", "The credential may not write for this identity"
    CALLER_UNKNOWN = "caller_unknown", "A tool server's span whose calling agent is not known yet"


class IngestKeyQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class IngestKey(models.Model):
    """A collector's credential for ingest: `aiamik_<prefix>_<secret>`, kept as a keyed hash. It writes only
    for the identities in its scope — those listed, those whose registered service name is listed, or every
    identity when `all_identities` — and everything else it sends goes to quarantine."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    all_identities = models.BooleanField(default=False)
    identities = models.ManyToManyField(Identity, blank=True, related_name="+")
    service_names = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = IngestKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class AgentNameMapping(models.Model):
    """`gen_ai.agent.name` → identity, explicitly, for one ingest key: frameworks put workflow names in that
    attribute, so a bare name never identifies anyone by itself."""

    ingest_key = models.ForeignKey(IngestKey, on_delete=models.CASCADE, related_name="agent_names")
    agent_name = models.CharField(max_length=200)
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ingest_key", "agent_name"], name="audit_events_agent_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_name} → {self.identity_id}"


class ActionEvent(models.Model):
    """One step an identity took: a tool call, an agent invocation, a workflow — linked into a chain by trace
    id and parent span id. Quarantined rows have no identity yet; `claimed` says what the producer named."""

    # Rows leave only with their partition. A later span of the same tool call (the calling agent's, after the
    # tool server's) merges into its step, so the app role may UPDATE these columns and DELETE nothing.
    app_role_updates = (
        "identity",
        "task",
        "quarantine",
        "claimed",
        "span_id",
        "parent_span_id",
        "folded_span_ids",
        "name",
        "ended_at",
        "outcome",
        "error_type",
        "attributes",
        "content",
        "decision_id",
        "token_jti",
        "fold_rank",
    )

    id = models.BigAutoField(primary_key=True)  # the ingest sequence
    uuid = models.UUIDField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True)
    ingested_at = models.DateTimeField()
    identity = models.ForeignKey(
        Identity, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    task = models.ForeignKey(
        Task, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    quarantine = models.CharField(max_length=20, choices=QuarantineReason.choices, blank=True)
    claimed = models.JSONField(default=dict)  # identity, identifier, service_name, agent_id, agent_name
    trace_id = models.CharField(max_length=32)  # 32 lower-case hex
    span_id = models.CharField(max_length=16)  # 16 lower-case hex
    parent_span_id = models.CharField(max_length=16, blank=True)
    folded_span_ids = ArrayField(models.CharField(max_length=16), default=list)  # other spans of the same step
    name = models.CharField(max_length=200, blank=True)
    operation = models.CharField(max_length=40, blank=True)  # gen_ai.operation.name, or ours
    tool_key = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=10, blank=True)
    resource = models.JSONField(default=dict)
    decision_id = models.UUIDField(null=True)  # runtime_policydecision.uuid when decide decided this step
    outcome = models.CharField(max_length=5, choices=Outcome.choices, default=Outcome.UNSET)
    error_type = models.CharField(max_length=100, blank=True)
    attributes = models.JSONField(default=dict)  # allow-listed and capped
    content = models.JSONField(default=dict)  # arguments, results, messages: only with EVENTS_STORE_CONTENT
    source = models.CharField(max_length=4, choices=Source.choices)
    ingest_key = models.ForeignKey(
        IngestKey, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    token_jti = models.CharField(max_length=64, blank=True)  # sent with the identity's own task token
    fold_rank = models.PositiveSmallIntegerField(default=0)  # which span of a folded step speaks for it

    class Meta:
        indexes = [
            models.Index(fields=["identity", "-started_at"], name="audit_events_identity_idx"),
            models.Index(fields=["trace_id", "started_at"], name="audit_events_trace_idx"),
            BrinIndex(fields=["id"], name="audit_events_seq_brin"),
            models.Index(fields=["-started_at"], name="audit_events_quarantine_idx", condition=~Q(quarantine="")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["uuid", "started_at"], name="audit_events_uuid_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.tool_key} ({self.trace_id}/{self.span_id})"


class UsageCursor(models.Model):
    """How far `audit.events.usage` has counted entitlement use from one source (`decisions`: allow decisions;
    `events`: events sent with the identity's own task token). Every row with id <= done_id is counted; ids up
    to safe_id are committed (or never will be): a mark is the source's sequence value with the transactions
    open when it was taken, and it becomes safe once they have all ended — rows commit out of id order."""

    name = models.CharField(max_length=20, unique=True)
    done_id = models.BigIntegerField(default=0)
    done_at = models.DateTimeField(null=True)  # decisions: the latest decided_at counted (bounds the scan)
    safe_id = models.BigIntegerField(default=0)
    mark_id = models.BigIntegerField(null=True)
    mark_vxids = ArrayField(models.CharField(max_length=40), default=list)
    counted = models.BigIntegerField(default=0)  # uses counted, in total
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.done_id}"
