"""Celery tasks of the identities app. Thin: each takes ids, and the work (and its idempotence) lives in
the module it calls."""

from __future__ import annotations

from celery import shared_task

from identities.imports.jobs import import_job_run

# An import of a large registry outlasts the default limits (CELERY_TASK_SOFT_TIME_LIMIT). Its transaction is
# all-or-nothing: a limit reached midway rolls the import back and the job is marked failed.
IMPORT_SOFT_TIME_LIMIT = 30 * 60


@shared_task(
    name="identities.tasks.run_import_job",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT,
    time_limit=IMPORT_SOFT_TIME_LIMIT + 60,
)
def run_import_job(job_id: int) -> None:
    """Run a registry import job; a second delivery finds it locked or finished and returns."""
    import_job_run(job_id)
