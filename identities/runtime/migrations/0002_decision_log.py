"""The decision log: a table partitioned by day (RANGE on decided_at), created here with SQL because Django has
no partitioned models. Django keeps only the model's state. The primary key includes the partition key, as
PostgreSQL requires; `id` alone stays unique through its sequence. Yesterday's, today's and the next seven
days' partitions are created now; the `runtime.tasks.maintain_decision_partitions` beat task keeps
creating them ahead and drops those past retention."""

from datetime import UTC, datetime, timedelta

import django.contrib.postgres.fields
import django.db.models.deletion
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

CREATE = """
CREATE SEQUENCE runtime_policydecision_id_seq;
CREATE TABLE runtime_policydecision (
    id bigint NOT NULL DEFAULT nextval('runtime_policydecision_id_seq'),
    uuid uuid NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    gateway_id bigint NULL,
    identity_id bigint NULL,
    token_jti varchar(64) NOT NULL,
    task_id bigint NULL,
    act_chain varchar(2048)[] NOT NULL,
    tool_key varchar(200) NOT NULL,
    action varchar(10) NOT NULL,
    resource jsonb NOT NULL,
    evaluated jsonb NOT NULL,
    policy_version_id bigint NULL,
    decision varchar(5) NOT NULL,
    reasons varchar(100)[] NOT NULL,
    latency_us integer NOT NULL CHECK (latency_us >= 0),
    PRIMARY KEY (decided_at, id)
) PARTITION BY RANGE (decided_at);
ALTER SEQUENCE runtime_policydecision_id_seq OWNED BY runtime_policydecision.id;
CREATE INDEX runtime_decision_identity_idx ON runtime_policydecision (identity_id, decided_at);
CREATE INDEX runtime_decision_uuid_idx ON runtime_policydecision (uuid);
"""
DROP = "DROP TABLE runtime_policydecision; "


def first_partitions(apps, schema_editor):
    today = datetime.now(UTC).date()
    with schema_editor.connection.cursor() as cursor:
        for offset in range(-1, 8):
            day = today + timedelta(days=offset)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS runtime_policydecision_p{day:%Y%m%d} "
                "PARTITION OF runtime_policydecision FOR VALUES FROM (%s) TO (%s)",
                [start, start + timedelta(days=1)],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0003_registry"),
        ("runtime", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(CREATE, DROP)],
            state_operations=[
                migrations.CreateModel(
                    name="PolicyDecision",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("uuid", models.UUIDField()),
                        ("decided_at", models.DateTimeField()),
                        ("token_jti", models.CharField(blank=True, max_length=64)),
                        (
                            "act_chain",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=2048), default=list, size=None
                            ),
                        ),
                        ("tool_key", models.CharField(max_length=200)),
                        ("action", models.CharField(max_length=10)),
                        ("resource", models.JSONField(default=dict)),
                        ("evaluated", models.JSONField(default=dict)),
                        ("decision", models.CharField(choices=[("allow", "Allow"), ("deny", "Deny")], max_length=5)),
                        (
                            "reasons",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(max_length=100), default=list, size=None
                            ),
                        ),
                        ("latency_us", models.PositiveIntegerField()),
                        (
                            "gateway",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                to="runtime.gateway",
                            ),
                        ),
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
                            "policy_version",
                            models.ForeignKey(
                                db_constraint=False,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="+",
                                to="runtime.policyversion",
                            ),
                        ),
                    ],
                ),
                migrations.AddIndex(
                    model_name="policydecision",
                    index=models.Index(fields=["identity", "decided_at"], name="runtime_decision_identity_idx"),
                ),
                migrations.AddIndex(
                    model_name="policydecision",
                    index=models.Index(fields=["uuid"], name="runtime_decision_uuid_idx"),
                ),
            ],
        ),
        migrations.RunPython(first_partitions, migrations.RunPython.noop),
        pgtrigger.migrations.AddTrigger(
            model_name="policydecision",
            trigger=pgtrigger.compiler.Trigger(
                name="runtime_policy_decision_append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="5206bf20da716494d90e73e5592d084c4d1e079b",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_runtime_policy_decision_append_only_e10dc",
                    table="runtime_policydecision",
                    when="BEFORE",
                ),
            ),
        ),
    ]
