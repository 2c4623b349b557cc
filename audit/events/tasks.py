"""Beat counts entitlement use every EVENTS_USAGE_TICK seconds (audit.events.usage); safe to run twice (one
holds each cursor, the other skips it) and resumes from the stored high-water marks after a worker dies."""

from __future__ import annotations

from celery import shared_task

from audit.events.usage import count_new_use


@shared_task(ignore_result=True)
def count_entitlement_use() -> dict:
    summary = count_new_use()
    return {"uses": summary.uses, "batches": summary.batches, "busy": summary.busy}
