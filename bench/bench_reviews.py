"""Attestation at scale (issue 11 targets): a reviewer's "My reviews" with 10,000 items answers in <= 150 ms p95
with a constant number of queries, and accepting every recommendation on 10,000 items takes <= 10 s.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_bench \
        .venv/bin/python bench/bench_reviews.py [--items 10000] [--runs 40]

It works in a scratch database <name>_reviews next to DATABASE_URL's (dropped and recreated, then migrated):
one reviewer owning items/5 agents with 5 standing read entitlements each, an open campaign run over them with
one item per entitlement (80 % recommended keep, 15 % revoke, 5 % no recommendation, some flagged). Pages are
requested through Django's test client in this process (middleware, view, template: the server's whole work,
no network); query counts are taken with 100 items and with all of them. Accepting runs the service itself.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AGENTIAM_PROFILE", "test")  # plain static files, testserver allowed
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PER_IDENTITY = 5


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def scratch_database(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_reviews"
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def signed_in_client(user):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


def seed(items: int, name: str):
    """The reviewer, their agents and entitlements, an open run and its items — bulk inserts."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from agentiam.permissions import Role
    from identities.models import Entitlement, Identity, Ownership, Profile, System, Tool
    from reviews.models import Campaign, CampaignRun, ReviewItem

    User = get_user_model()
    reviewer = User.objects.create(username=f"{name}-owner", email=f"{name}@bench.example", first_name="Bench")
    Profile.objects.get_or_create(user=reviewer)
    reviewer.groups.add(Group.objects.get_or_create(name=Role.IDENTITY_OWNER.value)[0])
    officer = User.objects.create(username=f"{name}-officer", email=f"{name}-officer@bench.example")
    system = System.objects.create(name=name, kind="saas")
    tools = Tool.objects.bulk_create(
        [Tool(system=system, key=f"{name}.tool_{n}", name=f"t{n}", actions=["read"]) for n in range(PER_IDENTITY)]
    )
    now = timezone.now()
    agents = Identity.objects.bulk_create(
        [Identity(kind="agent", name=f"agent-{n:05d}", environment="prod", is_orphaned=False)
         for n in range(items // PER_IDENTITY)]
    )  # fmt: skip
    Ownership.objects.bulk_create(
        [Ownership(identity=agent, person=reviewer, role="accountable", valid_from=now) for agent in agents]
    )
    held = Entitlement.objects.bulk_create(
        [Entitlement(identity=agent, tool=tool, action="read", mode="standing", granted_by=reviewer, granted_at=now)
         for agent in agents for tool in tools]
    )  # fmt: skip
    campaign = Campaign.objects.create(name=f"{name} quarterly review", created_by=officer)
    run = CampaignRun.objects.create(
        campaign=campaign, number=1, state="open", launched_by=officer, launched_at=now, extracted_at=now,
        opened_at=now, item_digest=hashlib.sha256(b"bench").hexdigest(), total=len(held), processed=len(held),
        stage=1, stage_started_at=now, due_at=now + timedelta(days=14),
        definition={"comment_required": "keep_flagged", "reviewer_rule": "owner", "fallback_group": None,
                    "independent_reviewer": "privileged"},
    )  # fmt: skip

    def recommendation(n: int) -> tuple[str, bool]:
        bucket = n % 20
        return ("none", False) if bucket == 0 else ("revoke", bucket < 4) if bucket < 4 else ("keep", False)

    rows = []
    for n, entitlement in enumerate(held):
        advice, flagged = recommendation(n)
        rows.append(ReviewItem(
            run=run, seq=n + 1, entitlement=entitlement, identity_id=entitlement.identity_id,
            granted_by=reviewer, reviewer=reviewer, routed_via="owner", due_at=run.due_at, recommendation=advice,
            reason=f"recommended {advice}", flagged=flagged,
            evidence={"last_used_at": None, "usage_source": "decision_log", "days_unused": 120},
        ))  # fmt: skip
    ReviewItem.objects.bulk_create(rows, batch_size=2000)
    return reviewer, run


def timed(client, path: str, runs: int) -> list[float]:
    client.get(path)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("Set DATABASE_URL (the bench uses <name>_reviews beside it).")
    os.environ["DATABASE_URL"] = scratch_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from reviews.services.attest import review_items_accept_recommendations

    call_command("migrate", verbosity=0)
    made = time.perf_counter()
    small, _ = seed(100, "small")
    few = queries(signed_in_client(small), "/reviews/my-reviews/")
    reviewer, run = seed(args.items, "bench")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"My reviews: {args.items:,} items for one reviewer (seeded in {time.perf_counter() - made:.1f} s), "
          f"{args.runs} runs, in-process server time")  # fmt: skip
    client = signed_in_client(reviewer)
    many = queries(client, "/reviews/my-reviews/")
    for label, path in (
        ("first page   /reviews/my-reviews/", "/reviews/my-reviews/"),
        ("a late page  ?page=150", "/reviews/my-reviews/?page=150"),
        ("decided tab  ?show=all", "/reviews/my-reviews/?show=all"),
        ("API list     /api/v1/review-items/?reviewer=me", "/api/v1/review-items/?reviewer=me"),
    ):
        times = timed(client, path, args.runs)
        print(f"  {label:<46} p50 {statistics.median(times):7.1f} ms   p95 {percentile(times, 0.95):7.1f} ms   "
              f"max {max(times):7.1f} ms")  # fmt: skip
    print(f"  queries: {few} with 100 items, {many} with {args.items:,}")
    started = time.perf_counter()
    accepted = review_items_accept_recommendations(actor=reviewer, run=run)
    took = time.perf_counter() - started
    print(f"Accept all recommendations on {args.items:,} items: {took:.2f} s "
          f"({accepted.certified:,} certified, {accepted.revoked:,} revoked, {accepted.left:,} left)")  # fmt: skip
    p95 = percentile(timed(client, "/reviews/my-reviews/", args.runs), 0.95)
    print(
        f"  targets: inbox p95 <= 150 ms {'met' if p95 <= 150 else 'MISSED'} ({p95:.1f} ms after accepting); "
        f"accept-all <= 10 s {'met' if took <= 10 else 'MISSED'}; constant queries {'yes' if few == many else 'NO'}"
    )


if __name__ == "__main__":
    main()
