"""Event ingest throughput (issue 12 targets): batches of our JSON events through POST /api/v1/events, OTLP
protobuf spans through POST /v1/traces, and a raw PostgreSQL COPY of the same rows into the same table, in one
run on one database.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_bench .venv/bin/python bench/bench_ingest.py \
        [--events 200000] [--batch 1000] [--spans 50000]

It creates a scratch database `test_<name>` (Django's test database: migrated, then dropped at the end), 1,000
agents each with a registered service name, and an ingest key for every identity. Requests go through Django's
test client in this process (the lean middleware path, the view, parsing, resolution, COPY, the INSERT … ON
CONFLICT): the server's whole work without the network. Every tenth batch is sent twice, so de-duplication is
part of the figure. Targets: ≥ 20,000 events/s and ≥ 0.5 of the raw COPY's rate; OTLP protobuf ≥ 5,000 spans/s.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AGENTIAM_PROFILE", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")


def estate(agents: int):
    from audit import actors
    from audit.events.services import ingest_key_create
    from identities.models import Identifier, Identity

    identities = Identity.objects.bulk_create(
        [Identity(kind="agent", name=f"bench-agent-{i}", environment="prod") for i in range(agents)]
    )
    Identifier.objects.bulk_create(
        [
            Identifier(identity=identity, kind="service_name", value=f"bench-svc-{i}")
            for i, identity in enumerate(identities)
        ]
    )
    _, key = ingest_key_create(actor=actors.job("bench"), name=f"bench-{secrets.token_hex(3)}", all_identities=True)
    return [f"bench-svc-{i}" for i in range(agents)], key


def json_batches(count: int, size: int, services: list[str]) -> list[bytes]:
    now = datetime.now(UTC)
    batches = []
    for start in range(0, count, size):
        trace = secrets.token_hex(16)
        events = []
        for i in range(min(size, count - start)):
            if i % 20 == 0:
                trace = secrets.token_hex(16)
            at = now - timedelta(seconds=secrets.randbelow(86_000))
            events.append(
                {
                    "id": str(uuid.uuid4()),
                    "identifier": secrets.choice(services),
                    "trace_id": trace,
                    "span_id": secrets.token_hex(8),
                    "started_at": at.isoformat(),
                    "ended_at": (at + timedelta(milliseconds=40)).isoformat(),
                    "name": "tools/call github.read_repo",
                    "operation": "execute_tool",
                    "tool": "github.read_repo",
                    "action": "read",
                    "resource": {"repo": "acme/api"},
                    "outcome": "ok",
                    "attributes": {"gen_ai.tool.call.id": "call_1"},
                }
            )
        batches.append(json.dumps({"events": events}).encode())
    return batches


def otlp_batches(count: int, size: int, services: list[str]) -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    now = time.time_ns()
    batches = []
    for start in range(0, count, size):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value=secrets.choice(services)))
        )
        spans = resource_spans.scope_spans.add().spans
        root = b""
        trace = secrets.token_bytes(16)
        for i in range(min(size, count - start)):
            if i % 10 == 0:
                trace, root = secrets.token_bytes(16), b""
            span_id = secrets.token_bytes(8)
            at = now - secrets.randbelow(80_000) * 10**9
            invoke = not root
            spans.append(
                Span(
                    trace_id=trace,
                    span_id=span_id,
                    parent_span_id=root,
                    name="invoke_agent triage" if invoke else "execute_tool github.read_repo",
                    kind=Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=at,
                    end_time_unix_nano=at + 40_000_000,
                    attributes=[
                        KeyValue(
                            key="gen_ai.operation.name",
                            value=AnyValue(string_value="invoke_agent" if invoke else "chat"),
                        ),
                        KeyValue(key="gen_ai.agent.name", value=AnyValue(string_value="triage")),
                    ],
                )
            )
            root = root or span_id
        batches.append(request.SerializeToString())
    return batches


def post_all(path: str, batches: list[bytes], content_type: str, key: str, *, resend_every: int = 0) -> float:
    from django.test import Client

    client = Client()
    started = time.perf_counter()
    for index, body in enumerate(batches):
        response = client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.content[:300]!r}")
        if resend_every and index % resend_every == 0:
            client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}")
    return time.perf_counter() - started


def raw_copy(count: int, identity_ids: list[int]) -> float:
    """The same rows through a bare COPY into the same table: the ceiling of any ingest path into it."""
    from django.db import connection, transaction

    from audit.events.ingest.writer import COLUMNS

    now = datetime.now(UTC)
    rows = []
    for _ in range(count):
        at = now - timedelta(seconds=secrets.randbelow(86_000))
        rows.append(
            (
                uuid.uuid4(), at, at + timedelta(milliseconds=40), now, secrets.choice(identity_ids), None, "",
                '{"identifier":"bench"}', secrets.token_hex(16), secrets.token_hex(8), "", [],
                "tools/call github.read_repo", "execute_tool", "github.read_repo", "read", '{"repo":"acme/api"}',
                None, "ok", "", '{"gen_ai.tool.call.id":"call_1"}', "{}", "api", None, "", 0,
            )
        )  # fmt: skip
    started = time.perf_counter()
    sql = f"COPY audit_events_actionevent ({', '.join(COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--spans", type=int, default=50_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from audit.events.models import ActionEvent
    from identities.models import Identity

    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        services, key = estate(1000)
        identity_ids = list(Identity.objects.values_list("id", flat=True))
        print(f"database {name}; {len(services)} agents; batches of {args.batch}")

        batches = json_batches(args.events, args.batch, services)
        seconds = post_all("/api/v1/events", batches, "application/json", key, resend_every=10)
        stored = ActionEvent.objects.count()
        assert stored == args.events, stored
        resent = len(batches[::10]) * args.batch
        print(
            f"  POST /api/v1/events  {args.events:>8,} events (+{resent:,} re-sent duplicates) in {seconds:6.2f} s"
            f" = {args.events / seconds:9,.0f} events/s ({(args.events + resent) / seconds:,.0f} incl. duplicates)"
        )
        copy_seconds = raw_copy(args.events, identity_ids)
        print(
            f"  raw COPY             {args.events:>8,} rows in {copy_seconds:6.2f} s"
            f" = {args.events / copy_seconds:9,.0f} rows/s   -> ingest runs at {copy_seconds / seconds:.2f} of its rate"
        )
        spans = otlp_batches(args.spans, args.batch, services)
        before = ActionEvent.objects.count()
        span_seconds = post_all("/v1/traces", spans, "application/x-protobuf", key)
        assert ActionEvent.objects.count() - before == args.spans
        print(
            f"  POST /v1/traces      {args.spans:>8,} spans (protobuf) in {span_seconds:6.2f} s"
            f" = {args.spans / span_seconds:9,.0f} spans/s"
        )
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
