"""A run's launch, in three idempotent steps the worker repeats until the run is open:

1. `run_extract` fixes the set in scope with ONE statement (sql.EXTRACT) into numbered scope entries, with
   the facts it used (decision-log coverage, acceptable-use pattern matches, fallback members), the
   statement, its counts and the extraction time. Done once: the run's row lock and `extracted_at` say so.
2. `run_batch` creates the items of the next range of entries (sql.ITEMS, sql.ROLE_ITEMS) and advances
   `processed` in the same transaction, under the run's row lock: a duplicate delivery waits, then finds the
   range done; a worker killed mid-batch leaves nothing of it (the transaction rolls back) and the next
   delivery redoes it. ON CONFLICT DO NOTHING on (run, entitlement, stage) is the second guard.
3. `run_open` checks there is exactly one item per entry, writes the digest of the item set and opens the run.

Each step writes its audit entry last, as the job. Each runs its statements with `_tune`: a work_mem large
enough that the set's sort and the batch's hash joins stay in memory, and no JIT (compiling the item statement
cost more than it saved on a batch). Figures: bench/README.md, "Review campaigns"."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit import actors
from audit.trail import audit_record
from reviews.campaigns import sql
from reviews.campaigns.definition import Facts, facts_at
from reviews.models_campaigns import CampaignRun, ReviewItem, RunState

__all__ = [
    "ERR_INCOMPLETE", "launch_campaign_run", "launch_enqueue", "run_batch", "run_extract", "run_launch", "run_open",
]  # fmt: skip

ERR_INCOMPLETE = "Run {run}: {items} items for {total} entries in scope; the launch is not complete."
JOB = "reviews.tasks.launch_campaign_run"
logger = logging.getLogger(__name__)


def _locked(run_id: int) -> CampaignRun | None:
    return CampaignRun.objects.select_for_update().filter(pk=run_id, state=RunState.LAUNCHING).first()


def _facts(run: CampaignRun) -> Facts:
    frozen = run.scope["facts"]
    matches = {int(tool): patterns for tool, patterns in frozen["matches"].items()}
    return Facts(run.definition, run.extracted_at, frozen["coverage"], matches, frozen["fallback"])


def _params(run: CampaignRun, facts: Facts) -> dict:
    scope = run.definition["scope"]
    stage_one = run.definition["stages"][0]
    return {
        **facts.params(),
        "run": run.pk,
        "unused_filter": scope["unused_days"] is not None,
        "outside_filter": scope["outside_acceptable_use"],
        "due_at": run.launched_at + timedelta(days=stage_one["duration_days"]),
    }


# Per transaction (SET LOCAL): the sort numbering a million entries and a batch's hash joins fit in this.
LAUNCH_WORK_MEM = "128MB"


def _tune(cursor) -> None:
    cursor.execute(f"SET LOCAL work_mem = '{LAUNCH_WORK_MEM}'")
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL enable_nestloop = off")


def _statement(cursor, statement: str, params: dict) -> str:
    """The statement with its values inlined (for the run's evidence); as written when the driver cannot."""
    shown = cursor.mogrify(statement, params) if hasattr(cursor, "mogrify") else statement
    return shown if isinstance(shown, str) else shown.decode()


@transaction.atomic
def run_extract(*, run_id: int, at: datetime | None = None) -> bool:
    """Fix the run's set (once). False when there was nothing to do."""
    run = _locked(run_id)
    if run is None or run.extracted_at is not None:
        return False
    at = at or timezone.now()
    facts = facts_at(run.definition, at)
    run.extracted_at = at
    params = _params(run, facts)
    filtered = params["unused_filter"] or params["outside_filter"]
    statement = sql.EXTRACT_FILTERED if filtered else sql.EXTRACT
    with connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(statement, params)
        total = cursor.rowcount
        cursor.execute(
            """SELECT count(s.entitlement_id), count(s.role_holder_id), count(DISTINCT e.identity_id),
                      count(*) FILTER (WHERE e.mode = 'standing'), count(*) FILTER (WHERE e.action <> 'read')
                 FROM reviews_campaignscopeentry s LEFT JOIN identities_entitlement e ON e.id = s.entitlement_id
                WHERE s.run_id = %s""",
            [run.pk],
        )
        entitlements, roles, identities, standing, privileged = cursor.fetchone()
        shown = _statement(cursor.cursor, statement, params)
    run.total = total
    run.counts = {
        "entries": total, "entitlements": entitlements, "role_holdings": roles, "identities": identities,
        "standing": standing, "write_admin_execute": privileged,
    }  # fmt: skip
    run.scope = {
        "extracted_at": at.isoformat(),
        "definition_scope": run.definition["scope"],
        "unused_days": params["unused_days"],
        "facts": {
            "coverage": facts.coverage,
            "matches": {str(tool): patterns for tool, patterns in facts.matches.items()},
            "fallback": facts.fallback,
        },
    }
    run.scope_sql = shown
    run.launch_heartbeat_at = timezone.now()
    run.save(update_fields=["extracted_at", "total", "counts", "scope", "scope_sql", "launch_heartbeat_at"])
    audit_record(
        actor=actors.job(JOB), action="campaign_run.extract", target=run,
        changes={"extracted_at": at.isoformat(), "counts": run.counts},
    )  # fmt: skip
    return True


@transaction.atomic
def run_batch(*, run_id: int, size: int | None = None) -> bool:
    """Create the items of the next range of entries. False when every entry has its item already."""
    run = _locked(run_id)
    if run is None or run.extracted_at is None or run.processed >= run.total:
        return False
    size = size or settings.REVIEWS_CAMPAIGN_BATCH
    low, high = run.processed, min(run.processed + size, run.total)
    params = {**_params(run, _facts(run)), "lo": low, "hi": high}
    with connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(sql.ITEMS, params)
        if run.definition["scope"]["privileged_roles"]:
            cursor.execute(sql.ROLE_ITEMS, params)
    CampaignRun.objects.filter(pk=run.pk).update(
        processed=high, batches=run.batches + 1, launch_heartbeat_at=timezone.now()
    )
    return True


@transaction.atomic
def run_open(*, run_id: int) -> bool:
    """Every entry has its item: write the digest of the item set and open the run. False if not yet."""
    run = _locked(run_id)
    if run is None or run.extracted_at is None or run.processed < run.total:
        return False
    with connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(
            """SELECT count(*) FILTER (WHERE i.id IS NOT NULL),
                      encode(sha256(convert_to(COALESCE(string_agg(
                          COALESCE(e.uuid::text, 'role:' || u.username || ':' || s.role), E'\\n' ORDER BY s.seq), ''),
                          'UTF8')), 'hex')
                 FROM reviews_campaignscopeentry s
                 LEFT JOIN identities_entitlement e ON e.id = s.entitlement_id
                 LEFT JOIN auth_user u ON u.id = s.role_holder_id
                 LEFT JOIN reviews_reviewitem i ON i.run_id = s.run_id AND i.seq = s.seq AND i.stage = 1
                WHERE s.run_id = %s""",
            [run.pk],
        )
        items, digest = cursor.fetchone()
    if items != run.total:
        raise RuntimeError(ERR_INCOMPLETE.format(run=run.uuid, items=items, total=run.total))
    stage_one = run.definition["stages"][0]
    now = timezone.now()
    items_of_run = ReviewItem.objects.filter(run=run, stage=1)
    figures = {
        "items": items,
        "reviewers": items_of_run.exclude(reviewer=None).values("reviewer").distinct().count(),
        "unrouted": items_of_run.filter(reviewer=None).count(),
        "flagged": items_of_run.filter(flagged=True).count(),
    }
    CampaignRun.objects.filter(pk=run.pk).update(
        state=RunState.OPEN, opened_at=now, item_digest=digest, stage=1, stage_started_at=run.launched_at,
        due_at=run.launched_at + timedelta(days=stage_one["duration_days"]), launch_heartbeat_at=now,
    )  # fmt: skip
    run.refresh_from_db()
    audit_record(
        actor=actors.job(JOB), action="campaign_run.open", target=run,
        changes={"item_digest": digest, "due_at": run.due_at.isoformat(), **figures},
    )  # fmt: skip
    return True


def run_launch(*, run_id: int, budget_seconds: float | None = None) -> str:
    """Extract, batch and open, each step its own transaction, until done or `budget_seconds` have passed.
    Returns the run's state afterwards ("launching" when the budget ran out: call again)."""
    started = timezone.now()
    run_extract(run_id=run_id)
    while run_batch(run_id=run_id):
        if budget_seconds is not None and (timezone.now() - started).total_seconds() > budget_seconds:
            break
    run_open(run_id=run_id)
    state = CampaignRun.objects.filter(pk=run_id).values_list("state", flat=True).first()
    return state or ""


def launch_enqueue(run_uuid: str) -> None:
    """Hand a run to a worker (after commit). A broker outage only delays it: the beat sweep
    (reviews.tasks.resume_campaign_launches) picks up a launching run nobody reported on."""
    try:
        launch_campaign_run.delay(run_uuid)
    except Exception:  # the broker is down: the sweep will find the run
        logger.warning("campaign run %s not handed to a worker now; the beat sweep will", run_uuid, exc_info=True)


# The task lives beside the work it runs (reviews.tasks imports it for Celery's autodiscovery).
@shared_task(name="reviews.tasks.launch_campaign_run", ignore_result=True)
def launch_campaign_run(run: str) -> str:
    """Extract, batch and open a run (safe to run twice, resumable after a kill); when its time budget runs out
    it hands the rest to a new delivery of itself."""
    found = CampaignRun.objects.filter(uuid=run, state=RunState.LAUNCHING).values_list("pk", flat=True).first()
    if found is None:
        return ""
    budget = max(settings.CELERY_TASK_SOFT_TIME_LIMIT - 60, 30)
    state = run_launch(run_id=found, budget_seconds=budget)
    if state == RunState.LAUNCHING:
        launch_campaign_run.delay(run)
    return state
