"""Elevation insight at scale (issue 10): the dashboard's elevation panel (reviews.insight) and the per-call
latency of the inbox (runtime call_latency) over 100k elevation requests and 100k per-call authorisations.

    createdb -h 127.0.0.1 -U postgres agentiam_bench_insight
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_bench_insight
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/bench_insight.py seed [--requests 100000 --calls 100000]   # once, ~1-2 minutes
    .venv/bin/python bench/bench_insight.py run [--runs 30]

`seed` writes, with bulk inserts: 200 owners reporting to one manager (plus an auditor), 2,000 agents (an
accountable owner each), 20 tools, 10 tasks per agent, 100k standing entitlements, then requests spread over
the last 60 days (60% approved by a person, each with its grant and JIT entitlement; 5% auto-approved; 15%
denied; 10% expired unanswered, some not yet swept; 5% withdrawn; 5% pending) and per-call authorisations
over the last 14 days (60% used, 10% denied, 10% approved and never used, 15% lapsed unanswered, 5% pending).
No approval rows are written (the database lets an approval in only while its request is pending): the
manager sees the requests through their reports' ownerships, as routing does.

`run` times `insight.dashboard_panel` (what the home page computes) as the auditor (sees everything), the
manager (their reports' identities: restricted queries) and an owner (10 identities), `identity_panel` for
one identity, and `call_latency` over 7 days (the inbox's per-call panel): p50 / p95 / max and the number of
queries, which must not depend on the rows. Figures in bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AGENTIAM_PROFILE", "test")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PREFIX = "bench-insight"
BATCH = 5000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- seed ----------------------------------------------------------------------------------------------------


def seed(requests: int, calls: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from agentiam.permissions import Role
    from identities.models import Entitlement, Grant, Identity, Ownership, Profile, System, Task, Tool
    from identities.runtime.models import CallAuthorisation, Gateway
    from reviews.models import ElevationRequest

    User = get_user_model()
    if Identity.objects.filter(name__startswith=PREFIX).exists():
        print("already seeded (identities named bench-insight-*): run `run`, or use a fresh database")
        return
    rng = random.Random(10)  # noqa: S311 - bench data
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic():
        groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
        manager = User.objects.create(username=f"{PREFIX}-manager", email="manager@bench.example.com")
        auditor = User.objects.create(username=f"{PREFIX}-auditor", email="auditor@bench.example.com")
        manager.groups.add(groups[Role.MANAGER])
        auditor.groups.add(groups[Role.AUDITOR])
        owners = User.objects.bulk_create(
            [User(username=f"{PREFIX}-owner-{n}", email=f"owner-{n}@bench.example.com") for n in range(200)]
        )
        groups[Role.IDENTITY_OWNER].user_set.add(*owners)
        Profile.objects.filter(user__in=owners).update(manager=manager)
        system = System.objects.create(name=f"{PREFIX}-system", kind="saas")
        tools = Tool.objects.bulk_create(
            [Tool(system=system, key=f"{PREFIX}.tool-{n}", name=f"tool {n}", actions=["read", "write"],
                  sensitivity=rng.choice(["low", "medium", "high"])) for n in range(20)]
        )  # fmt: skip
        agents = Identity.objects.bulk_create(
            [Identity(kind="agent", name=f"{PREFIX}-agent-{n}", environment="prod", exposure="internal",
                      risk_tier=rng.choice(["low", "medium", "high", "critical"])) for n in range(2000)]
        )  # fmt: skip
        Ownership.objects.bulk_create(
            [Ownership(identity=agent, person=owners[n % len(owners)], role="accountable",
                       valid_from=now - timedelta(days=400)) for n, agent in enumerate(agents)]
        )  # fmt: skip
        tasks = Task.objects.bulk_create(
            [Task(identity=agent, name=f"task-{t}") for agent in agents for t in range(10)], batch_size=BATCH
        )
        Entitlement.objects.bulk_create(
            [Entitlement(identity=agents[n % len(agents)], tool=tools[n % len(tools)],
                         action="read" if n % 4 else "write", mode="standing", source="import", scope={"n": str(n)},
                         granted_at=now - timedelta(days=90))
             for n in range(100_000)], batch_size=BATCH,
        )  # fmt: skip
    print(f"registry: {time.perf_counter() - started:.1f} s")

    # Requests: closed ones first (grants for the approved), then the pending ones with unique asks.
    started = time.perf_counter()
    with transaction.atomic():
        plan = []
        for n in range(requests):
            roll = rng.random()
            state = ("approved" if roll < 0.65 else "denied" if roll < 0.80 else "expired" if roll < 0.90
                     else "withdrawn" if roll < 0.95 else "pending")  # fmt: skip
            created = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
            plan.append((n, state, created))
        grants = {}
        approved = [(n, created) for n, state, created in plan if state == "approved"]
        for chunk in range(0, len(approved), BATCH):
            rows = []
            for n, created in approved[chunk : chunk + BATCH]:
                decided = created + timedelta(seconds=rng.lognormvariate(7, 1.2))
                rows.append(Grant(identity_id=tasks[n % len(tasks)].identity_id, task=tasks[n % len(tasks)],
                                  starts_at=decided, ends_at=decided + timedelta(hours=1), reason="bench"))  # fmt: skip
            for (n, _), grant in zip(approved[chunk : chunk + BATCH], Grant.objects.bulk_create(rows), strict=True):
                grants[n] = grant
        Entitlement.objects.bulk_create(
            [Entitlement(identity_id=grant.identity_id, tool=tools[n % len(tools)], action="write", mode="jit",
                         source="grant", grant=grant, granted_at=grant.starts_at, expires_at=grant.ends_at)
             for n, grant in grants.items()],
            batch_size=BATCH,
        )  # fmt: skip
        rows = []
        for n, state, created in plan:
            task = tasks[n % len(tasks)] if state != "pending" else tasks[(n * 7) % len(tasks)]
            tool = tools[n % len(tools)]
            grant = grants.get(n)
            auto = state == "approved" and n % 13 == 0
            expires = created + timedelta(hours=24)
            decided = grant.starts_at if grant else (created + timedelta(minutes=rng.uniform(1, 600)))
            if state == "expired":
                decided = expires
            if state == "pending":
                created, expires, decided = now - timedelta(hours=rng.uniform(0, 20)), now + timedelta(hours=4), None
                if n % 3 == 0:  # past its expiry, not swept yet: counted as expired
                    expires = now - timedelta(minutes=5)
            rows.append(ElevationRequest(
                identity_id=task.identity_id, task=task, scopes=[f"{tool.key}:write"], scope={"run": str(n)},
                justification="bench", duration_seconds=3600, urgency=rng.choice(["low", "normal", "high"]),
                state=state, requested_by=owners[(task.identity_id) % len(owners)], digest="0" * 64,
                approvals_needed=0 if auto else 1, expires_at=expires, decided_at=decided, grant=grant,
                granted_scopes=[f"{tool.key}:write"] if grant else None,
                granted_duration_seconds=3600 if grant else None,
            ))  # fmt: skip
        ElevationRequest.objects.bulk_create(rows, batch_size=BATCH)
        # auto_now_add wrote now: put each request back at its time.
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_times (id bigint, created timestamptz) ON COMMIT DROP")
            made = list(ElevationRequest.objects.filter(identity__name__startswith=PREFIX).order_by("pk")
                        .values_list("pk", flat=True))  # fmt: skip
            with cursor.copy("COPY bench_times (id, created) FROM STDIN") as copy:
                for pk, (_, _, created) in zip(made, plan, strict=True):
                    copy.write_row((pk, created))
            cursor.execute("UPDATE reviews_elevationrequest r SET created_at = t.created FROM bench_times t "
                           "WHERE r.id = t.id AND r.state <> 'pending'")  # fmt: skip
    print(f"{requests:,} requests: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with transaction.atomic():
        service = Identity.objects.create(kind="service_account", name=f"{PREFIX}-gateway", environment="prod")
        gateway = Gateway.objects.create(name=f"{PREFIX}-gateway", identity=service, audiences=["https://bench"],
                                         prefix="aiamgwbench", digest="0" * 64, credential_issued_at=now)  # fmt: skip
        rows = []
        for n in range(calls):
            roll, asked = rng.random(), now - timedelta(seconds=rng.uniform(600, 14 * 86400))
            task, tool = tasks[n % len(tasks)], tools[n % len(tools)]
            fields = {"state": "pending", "requested_at": asked, "expires_at": asked + timedelta(minutes=10)}
            decided = asked + timedelta(seconds=rng.lognormvariate(3.5, 0.8))
            window = {"decided_at": decided, "decided_by": manager, "valid_until": decided + timedelta(minutes=5)}
            if roll < 0.60:
                fields |= {"state": "consumed", **window,
                           "consumed_at": decided + timedelta(seconds=rng.uniform(1, 60)),
                           "consumed_decision": uuid.uuid4()}  # fmt: skip
            elif roll < 0.70:
                fields |= {"state": "denied", "decided_at": decided, "decided_by": manager}
            elif roll < 0.80:
                fields |= {"state": "approved", **window}
            elif roll < 0.95:
                pass  # lapsed unanswered
            else:
                fields |= {"requested_at": now - timedelta(minutes=2), "expires_at": now + timedelta(minutes=8)}
            rows.append(CallAuthorisation(
                identity_id=task.identity_id, task=task, gateway=gateway, tool=tool, tool_key=tool.key,
                action="write", resource={"n": str(n)}, resource_digest=f"{n:064x}", evaluation_id=uuid.uuid4(),
                **fields,
            ))  # fmt: skip
        CallAuthorisation.objects.bulk_create(rows, batch_size=BATCH)
    print(f"{calls:,} call authorisations: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- run -----------------------------------------------------------------------------------------------------


def timed(label: str, fn, runs: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    fn()  # warm: roles and plans
    times, counts = [], set()
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
        counts.add(len(queries))
    print(
        f"  {label:<46} p50 {statistics.median(times):7.1f} ms   p95 {percentile(times, 0.95):7.1f} ms   "
        f"max {max(times):7.1f} ms   queries {'/'.join(str(c) for c in sorted(counts))}"
    )


def run(runs: int) -> None:
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from identities.models import Identity
    from identities.runtime.models import CallAuthorisation
    from identities.runtime.services.percall import call_latency
    from reviews import insight
    from reviews.models import ElevationRequest

    User = get_user_model()
    people = {
        "auditor (everything)": User.objects.get(username=f"{PREFIX}-auditor"),
        "manager (200 reports' 2,000 agents)": User.objects.get(username=f"{PREFIX}-manager"),
        "owner (10 agents)": User.objects.get(username=f"{PREFIX}-owner-0"),
    }
    print(f"{ElevationRequest.objects.count():,} requests, {CallAuthorisation.objects.count():,} call authorisations, "
          f"{Identity.objects.count():,} identities")  # fmt: skip
    for label, person in people.items():
        request = RequestFactory().get("/")
        request.user = person
        timed(f"dashboard panel, {label}", lambda request=request: insight.dashboard_panel(request), runs)
    request = RequestFactory().get("/")
    request.user = people["auditor (everything)"]
    agent = Identity.objects.filter(name=f"{PREFIX}-agent-7").get()
    timed("identity page panel, one agent (auditor)", lambda: insight.identity_panel(request, agent), runs)
    timed("call_latency, 7 days, everything", lambda: call_latency(days=7), runs)
    ids = list(Identity.objects.filter(name__startswith=f"{PREFIX}-agent-").values_list("pk", flat=True)[:10])
    timed("call_latency, 7 days, 10 identities", lambda: call_latency(days=7, identity_ids=ids), runs)
    found = insight.dashboard_panel(request)["insight"]
    path = found.calls
    print(f"  auditor's figures: {found.requests:,} requests in 30 days, {found.expired:,} expired unanswered, "
          f"median to approve {insight.duration(found.median_seconds)}; per call: {path.allowed:,} allowed, "
          f"median {insight.duration(path.median_seconds)}, p95 {insight.duration(path.p95_seconds)}, "
          f"{path.lapsed:,} lapsed")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed")
    seeding.add_argument("--requests", type=int, default=100_000)
    seeding.add_argument("--calls", type=int, default=100_000)
    running = commands.add_parser("run")
    running.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    if args.command == "seed":
        seed(args.requests, args.calls)
    else:
        run(args.runs)


if __name__ == "__main__":
    main()
