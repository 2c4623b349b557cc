"""Detectors draining a backlog (issue 12 target: 1M events at >= 20,000 events/s).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_bench .venv/bin/python bench/bench_detectors.py \
        [--events 1000000] [--batch 5000]

It creates a scratch database `test_<name>` (Django's test database: migrated, then dropped at the end), 1,000
production agents with an entitlement and an acceptable use each, ten tools of mixed sensitivity, and writes the
backlog with COPY straight into the event table: traces of ten steps (an agent's invoke, nine tool calls under
it) over the last two days, one trace in fifty widening from a read into a write on a critical tool. Then the
evaluator (audit.alerts.evaluate.evaluate_new_events, what the beat task runs) drains it in one process: the
figure includes reading the events, the decisions, facts and baselines, the traces they belong to, the pure
detectors, the alerts' INSERT … ON CONFLICT and the baselines' upserts, one transaction per batch.
"""

from __future__ import annotations

import argparse
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

TOOLS = [("github.read_repo", "low"), ("github.comment", "low"), ("jira.read", "low"), ("jira.write", "medium"),
         ("slack.post", "low"), ("docs.read", "low"), ("s3.read", "medium"), ("db.query", "high"),
         ("ci.run", "medium"), ("vault.read_secret", "critical")]  # fmt: skip
LOW = [key for key, sensitivity in TOOLS if sensitivity == "low"]  # everyday traces touch only these
COLUMNS = ("uuid, started_at, ended_at, ingested_at, identity_id, quarantine, claimed, trace_id, span_id, "
           "parent_span_id, folded_span_ids, name, operation, tool_key, action, resource, outcome, attributes, "
           "content, source, token_jti, fold_rank, error_type")  # fmt: skip


def estate(agents: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from identities.models import AcceptableUse, Entitlement, Identity, System, Tool

    system = System.objects.create(name="bench", kind="saas")
    tools = Tool.objects.bulk_create([Tool(system=system, key=k, name=k, sensitivity=s) for k, s in TOOLS])
    identities = Identity.objects.bulk_create(
        [Identity(kind="agent", name=f"bench-agent-{i}", environment="prod") for i in range(agents)]
    )
    approver = get_user_model().objects.create(username="bench-approver")
    now = timezone.now()
    low = [tool for tool in tools if tool.sensitivity == "low"]
    Entitlement.objects.bulk_create([Entitlement(identity=i, tool=t, action="read", mode="standing",
                                                 granted_at=now) for i in identities for t in low])  # fmt: skip
    AcceptableUse.objects.bulk_create([AcceptableUse(identity=i, version=1, purpose="bench", allowed_tools=["*"],
                                                     valid_from=now - timedelta(days=60), approved_by=approver,
                                                     approved_at=now) for i in identities])  # fmt: skip
    return [identity.pk for identity in identities]


def backlog(count: int, identities: list[int]) -> tuple[float, int]:
    from django.db import connection, transaction

    from audit.events.partitions import EVENT_LOG, TABLE

    now = datetime.now(UTC)
    have = set(EVENT_LOG.existing())
    for back in range(0, 4):
        day = (now - timedelta(days=back)).date()
        if day not in have:
            EVENT_LOG.create(day, 1)
    started = time.perf_counter()
    widening = 0
    with transaction.atomic(), connection.cursor() as cursor:  # noqa: SIM117 - the copy needs the cursor
        with cursor.cursor.copy(f"COPY {TABLE} ({COLUMNS}) FROM STDIN") as copy:
            written, n = 0, 0
            while written < count:
                n += 1
                trace, root = secrets.token_hex(16), secrets.token_hex(8)
                identity = identities[n % len(identities)]
                at = now - timedelta(seconds=secrets.randbelow(170_000))
                widen = n % 50 == 0
                widening += widen
                for step in range(min(10, count - written)):
                    if step == 0:
                        tool, action, parent, name, op = "", "", "", "invoke_agent bench", "invoke_agent"
                    else:
                        tool, action = LOW[(n + step) % len(LOW)], "read"
                        if widen and step == 9:
                            tool, action = "vault.read_secret", "write"
                        parent, name, op = root, f"tools/call {tool}", "execute_tool"
                    started_at = at + timedelta(milliseconds=50 * step)
                    copy.write_row((uuid.uuid4(), started_at, started_at + timedelta(milliseconds=40), now, identity,
                                    "", "{}", trace, root if step == 0 else secrets.token_hex(8), parent, [], name,
                                    op, tool, action, "{}", "ok", "{}", "{}", "api", "", 0, ""))  # fmt: skip
                    written += 1
    return time.perf_counter() - started, widening


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from audit.alerts.evaluate import evaluate_new_events
    from audit.alerts.models import Alert

    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        identities = estate(1000)
        seconds, widening = backlog(args.events, identities)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_events_actionevent")
        print(f"database {name}; load average before the drain: {load()}")
        print(
            f"  backlog  {args.events:>9,} events written with COPY in {seconds:6.1f} s; {widening:,} widening traces"
        )
        started = time.perf_counter()
        summary = evaluate_new_events(batch=args.batch)
        drained = time.perf_counter() - started
        print(f"  drain    {summary.events:>9,} events in {summary.batches:,} batches of {args.batch:,}"
              f" in {drained:6.1f} s = {summary.events / drained:9,.0f} events/s (target >= 20,000)")  # fmt: skip
        rules = dict(Alert.objects.values_list("rule").annotate(n=django.db.models.Count("pk")).order_by("rule"))
        print(f"  alerts   {summary.alerts:,} raised: {rules}")
        again = time.perf_counter()
        assert evaluate_new_events().events == 0
        print(f"  re-run   nothing left, {time.perf_counter() - again:.2f} s; load average after: {load()}")
        assert rules.get("privilege_widening") == widening, rules
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()
