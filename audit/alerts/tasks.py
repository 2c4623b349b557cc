"""Beat runs the evaluator every ALERTS_TICK seconds; it is safe to run twice (one holds the cursor, the
other returns) and resumes from the stored high-water mark after a worker dies."""

from __future__ import annotations

from celery import shared_task

from audit.alerts.evaluate import evaluate_new_events


@shared_task(ignore_result=True)
def evaluate_events() -> dict:
    summary = evaluate_new_events()
    return {"batches": summary.batches, "events": summary.events, "alerts": summary.alerts, "busy": summary.busy}
