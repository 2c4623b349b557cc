"""Ingest keys, agent-name mappings and the action-event table. The event table is partitioned by day (RANGE
on started_at), created here with SQL because Django has no partitioned models; Django keeps only the
model's state. The primary key includes the partition key, as PostgreSQL requires; `id` (the ingest
sequence) stays unique through its sequence, and `uuid` with `started_at` is the idempotency key.
Yesterday's, today's and the next seven days' partitions are created now; beat's
`agentiam.tasks.maintain_partitions` keeps creating them ahead and drops those past retention."""

import uuid
from datetime import UTC, datetime, timedelta

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE SEQUENCE audit_events_actionevent_id_seq;
CREATE TABLE audit_events_actionevent (
    id bigint NOT NULL DEFAULT nextval('audit_events_actionevent_id_seq'),
    uuid uuid NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone NULL,
    ingested_at timestamp with time zone NOT NULL,
    identity_id bigint NULL,
    task_id bigint NULL,
    quarantine varchar(20) NOT NULL,
    claimed jsonb NOT NULL,
    trace_id varchar(32) NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
    span_id varchar(16) NOT NULL CHECK (span_id ~ '^[0-9a-f]{16}$'),
    parent_span_id varchar(16) NOT NULL,
    folded_span_ids varchar(16)[] NOT NULL,
    name varchar(200) NOT NULL,
    operation varchar(40) NOT NULL,
    tool_key varchar(200) NOT NULL,
    action varchar(10) NOT NULL,
    resource jsonb NOT NULL,
    decision_id uuid NULL,
    outcome varchar(5) NOT NULL,
    error_type varchar(100) NOT NULL,
    attributes jsonb NOT NULL,
    content jsonb NOT NULL,
    source varchar(4) NOT NULL,
    ingest_key_id bigint NULL,
    token_jti varchar(64) NOT NULL,
    fold_rank smallint NOT NULL CHECK (fold_rank >= 0),
    CHECK ((identity_id IS NULL) = (quarantine <> '')),
    PRIMARY KEY (started_at, id)
) PARTITION BY RANGE (started_at);
ALTER SEQUENCE audit_events_actionevent_id_seq OWNED BY audit_events_actionevent.id;
CREATE UNIQUE INDEX audit_events_uuid_unique ON audit_events_actionevent (uuid, started_at);
CREATE INDEX audit_events_identity_idx ON audit_events_actionevent (identity_id, started_at DESC);
CREATE INDEX audit_events_trace_idx ON audit_events_actionevent (trace_id, started_at);
CREATE INDEX audit_events_seq_brin ON audit_events_actionevent USING brin (id);
CREATE INDEX audit_events_quarantine_idx ON audit_events_actionevent (started_at DESC) WHERE quarantine <> '';
"""
DROP = "DROP TABLE audit_events_actionevent; "


def first_partitions(apps, schema_editor):
    today = datetime.now(UTC).date()
    with schema_editor.connection.cursor() as cursor:
        for offset in range(-1, 8):
            day = today + timedelta(days=offset)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS audit_events_actionevent_p{day:%Y%m%d} "
                "PARTITION OF audit_events_actionevent FOR VALUES FROM (%s) TO (%s)",
                [start, start + timedelta(days=1)],
            )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("identities", "0005_grant_has_task"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="IngestKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("uuid", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("name", models.CharField(max_length=100, unique=True)),
                ("prefix", models.CharField(max_length=12, unique=True)),
                ("digest", models.CharField(max_length=64)),
                ("all_identities", models.BooleanField(default=False)),
                (
                    "service_names",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=200), blank=True, default=list, size=None
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("identities", models.ManyToManyField(blank=True, related_name="+", to="identities.identity")),
                (
                    "revoked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="AgentNameMapping",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("agent_name", models.CharField(max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "identity",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="identities.identity"
                    ),
                ),
                (
                    "ingest_key",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="agent_names",
                        to="audit_events.ingestkey",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("ingest_key", "agent_name"), name="audit_events_agent_name_unique")
                ],
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CREATE, DROP)],
            state_operations=[
                migrations.CreateModel(
                    name="ActionEvent",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("uuid", models.UUIDField()),
                        ("started_at", models.DateTimeField()),
                        ("ended_at", models.DateTimeField(null=True)),
                        ("ingested_at", models.DateTimeField()),
                        (
                            "quarantine",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("unknown_identity", "No registered identity matches"),
                                    ("out_of_scope", "The credential may not write for this identity"),
                                    ("caller_unknown", "A tool server's span whose calling agent is not known yet"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("claimed", models.JSONField(default=dict)),
                        ("trace_id", models.CharField(max_length=32)),
                        ("span_id", models.CharField(max_length=16)),
                        ("parent_span_id", models.CharField(blank=True, max_length=16)),
                        (
                            "folded_span_ids",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=16), default=list, size=None
                            ),
                        ),
                        ("name", models.CharField(blank=True, max_length=200)),
                        ("operation", models.CharField(blank=True, max_length=40)),
                        ("tool_key", models.CharField(blank=True, max_length=200)),
                        ("action", models.CharField(blank=True, max_length=10)),
                        ("resource", models.JSONField(default=dict)),
                        ("decision_id", models.UUIDField(null=True)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[("ok", "OK"), ("error", "Error"), ("unset", "Not reported")],
                                default="unset",
                                max_length=5,
                            ),
                        ),
                        ("error_type", models.CharField(blank=True, max_length=100)),
                        ("attributes", models.JSONField(default=dict)),
                        ("content", models.JSONField(default=dict)),
                        (
                            "source",
                            models.CharField(choices=[("api", "Event API"), ("otlp", "OTLP traces")], max_length=4),
                        ),
                        ("token_jti", models.CharField(blank=True, max_length=64)),
                        ("fold_rank", models.PositiveSmallIntegerField(default=0)),
                        (
                            "identity",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="identities.identity",
                            ),
                        ),
                        (
                            "task",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="identities.task",
                            ),
                        ),
                        (
                            "ingest_key",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="audit_events.ingestkey",
                            ),
                        ),
                    ],
                    options={
                        "indexes": [
                            models.Index(fields=["identity", "-started_at"], name="audit_events_identity_idx"),
                            models.Index(fields=["trace_id", "started_at"], name="audit_events_trace_idx"),
                            django.contrib.postgres.indexes.BrinIndex(fields=["id"], name="audit_events_seq_brin"),
                            models.Index(
                                condition=models.Q(("quarantine", ""), _negated=True),
                                fields=["-started_at"],
                                name="audit_events_quarantine_idx",
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("uuid", "started_at"), name="audit_events_uuid_unique")
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(first_partitions, migrations.RunPython.noop),
    ]
