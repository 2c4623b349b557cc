"""Launching a review campaign over the whole registry (issue 11 target: 1M entitlements in <= 2 minutes and
<= 3x a plain INSERT ... SELECT of the same rows, printed beside it in the same run).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/agentiam_campbench python manage.py migrate
    DATABASE_URL=... python manage.py seed_demo --scale 100000        # 100k identities, 1M entitlements
    DATABASE_URL=... .venv/bin/python bench/bench_campaigns.py [--batch 200000]

It defines a campaign over every live entitlement (as a compliance officer it creates), launches a run and
runs the launch's steps in this process — the same idempotent functions the Celery task calls: the one
statement that fixes the set, the batches that create the items with their recommendation, evidence and
reviewer, and the opening (count check and digest) — timing each. Then, in the same run, it times the floor:
one plain INSERT ... SELECT of the same entitlements into a scratch copy of the review-item table (same columns
and indexes, constant values, no facts, no routing, no triggers), and prints the ratio. Runs and items stay
in the database (they are never deleted by design); use a scratch database."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentiam.settings")

PLAIN = """
INSERT INTO bench_plain_item (
    uuid, run_id, stage, seq, entitlement_id, identity_id, role_holder_id, role, holder_person_id, requested_by_id,
    granted_by_id, independent, reviewer_id, routed_via, reassign_note, due_at, recommendation, reasons, reason,
    flagged, evidence, state, decision, decided_via, reduce_jit_only, comment, bulk, fulfilment_status,
    fulfilment_error, fulfilment_attempts)
SELECT gen_random_uuid(), %(run)s, 1, row_number() OVER (ORDER BY e.id), e.id, e.identity_id, NULL, '', NULL, NULL,
       e.granted_by_id, false, NULL, 'unrouted', '', now(), 'none', '{}', '', false, '{}'::jsonb, 'pending', '', '',
       false, '', false, '', '', 0
  FROM identities_entitlement e
 WHERE e.revoked_at IS NULL AND (e.expires_at IS NULL OR e.expires_at > now())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=None, help="items per batch (REVIEWS_CAMPAIGN_BATCH)")
    parser.add_argument("--plain-only", action="store_true", help="time only the plain INSERT ... SELECT")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.db.models import Count
    from django.utils import timezone

    from agentiam.permissions import Role
    from identities.models import Entitlement
    from reviews.campaigns.definition import freeze
    from reviews.models import Campaign, CampaignRun, CampaignStage, ReviewItem
    from reviews.services import campaigns, launching

    User = get_user_model()
    officer, _ = User.objects.get_or_create(username="bench-compliance", defaults={"email": "bc@example.com"})
    officer.groups.add(Group.objects.get_or_create(name=Role.COMPLIANCE_OFFICER.value)[0])
    live = Entitlement.objects.filter(revoked_at__isnull=True).count()
    print(f"Campaign launch over {live:,} live entitlements (load average {_load()})")

    if args.plain_only:
        plain_insert(connection, transaction, CampaignRun.objects.order_by("-pk").first())
        return
    name = f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}"
    started = time.perf_counter()
    campaign = Campaign.objects.create(name=name, created_by=officer)
    CampaignStage.objects.create(campaign=campaign, number=1)
    # What campaign_launch writes, without its preview (a second full pass over the estate, timed apart below).
    run = CampaignRun.objects.create(
        campaign=campaign, number=1, launched_by=officer, launched_at=timezone.now(), definition=freeze(campaign)
    )
    t0 = time.perf_counter()
    launching.run_extract(run_id=run.pk)
    t1 = time.perf_counter()
    batches = 0
    while launching.run_batch(run_id=run.pk, size=args.batch):
        batches += 1
    t2 = time.perf_counter()
    launching.run_open(run_id=run.pk)
    t3 = time.perf_counter()
    run.refresh_from_db()
    items = ReviewItem.objects.filter(run=run).count()
    launch = t3 - t0
    print(f"  fix the set (one INSERT ... SELECT into scope entries)   {t1 - t0:7.1f} s   {run.total:,} entries")
    print(f"  create the items ({batches} batches)                        {t2 - t1:7.1f} s   {items:,} items")
    print(f"  open (count check, digest)                              {t3 - t2:7.1f} s   {run.item_digest[:16]}…")
    print(f"  launch in all                                           {launch:7.1f} s   (state {run.state})")
    recommendations = dict(
        ReviewItem.objects.filter(run=run).values_list("recommendation").annotate(n=Count("id")).order_by()
    )
    print(f"    recommendations {recommendations}; set counts {run.counts}")

    t4 = time.perf_counter()
    preview = campaigns.campaign_preview(campaign=campaign)
    t5 = time.perf_counter()
    print(f"  preview (same facts and routing, counted, nothing written) {t5 - t4:5.1f} s   {preview['items']:,} items")

    plain = plain_insert(connection, transaction, run)
    print(
        f"  launch / plain                                          {launch / plain:7.2f}x   (target <= 3x, <= 120 s)"
    )
    print(f"  (whole script {time.perf_counter() - started:.1f} s; load average now {_load()})")


def _load() -> str:
    """The machine's load (1, 5, 15 minutes): these figures mean little without it on a shared 2-core box."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def plain_insert(connection, transaction, run) -> float:
    """The floor: one INSERT ... SELECT of the same live entitlements into a copy of the item table (same
    columns, identity, indexes and CHECKs; no foreign keys, triggers, facts or routing)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain_item")
        cursor.execute("CREATE TABLE bench_plain_item (LIKE reviews_reviewitem INCLUDING DEFAULTS "
                       "INCLUDING IDENTITY INCLUDING INDEXES INCLUDING CONSTRAINTS)")  # fmt: skip
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PLAIN, {"run": run.pk})
        rows = cursor.rowcount
    plain = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plain_item")
    print(f"  plain INSERT ... SELECT of the same rows (same indexes)  {plain:7.1f} s   {rows:,} rows")
    return plain


if __name__ == "__main__":
    main()
