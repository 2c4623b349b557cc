"""Import jobs: an uploaded ZIP kept under VAR_DIR/imports, run later by a Celery worker.

`import_job_create` stores the upload and enqueues the run once its transaction commits; `import_job_run`
(the task's body) claims the job with a row lock, runs the import inside the same transaction and records
the outcome with it — so a worker that dies midway leaves the job queued and the registry untouched, and a
second delivery of the same task finds the job locked or finished and does nothing. Progress goes to the
cache, where the progress page and the API read it while the transaction is still open.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from identities.imports.report import Report
from identities.imports.runner import ImportResult, importer_for, registry_import
from identities.models import ImportJob

log = logging.getLogger(__name__)

PROGRESS_TTL = 24 * 3600
ERR_TOO_LARGE = "The file is larger than the {limit} bytes an import may be."
ERR_EMPTY_UPLOAD = "Choose a ZIP file to import."
ERR_INTERNAL = "The import stopped on an internal error; nothing was written. The error has been logged."


class UploadTooLarge(Exception):
    pass


def import_dir() -> Path:
    return Path(settings.VAR_DIR) / "imports"


def _progress_key(job: ImportJob) -> str:
    return f"registry-import:{job.uuid}"


def set_progress(job: ImportJob, phase: str, info: dict | None = None) -> None:
    """Best effort: a cache outage must not stop an import."""
    current = {"phase": phase, "at": timezone.now().isoformat()}
    try:
        previous = cache.get(_progress_key(job)) or {}
        rows = {**previous.get("rows", {}), **(info or {})} if phase == "loading" else previous.get("rows", {})
        current["rows"] = rows
        cache.set(_progress_key(job), current, PROGRESS_TTL)
    except Exception:  # the cache is optional here
        log.warning("could not record import progress", exc_info=True)


def job_progress(job: ImportJob) -> dict:
    if job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
        return {"phase": "done"}
    try:
        found = cache.get(_progress_key(job))
    except Exception:
        found = None
    return found or {"phase": job.status}


@transaction.atomic
def import_job_create(*, actor, upload, filename: str = "", dry_run: bool = False) -> ImportJob:
    """Keep the uploaded ZIP (streamed to disk, hashed on the way) and enqueue its import."""
    importer_for(actor)  # refuses people who may not import at all, before anything is stored
    if upload is None or not getattr(upload, "size", 0):
        raise ValueError(ERR_EMPTY_UPLOAD)
    limit = settings.IMPORT_MAX_BYTES
    if upload.size > limit:
        raise UploadTooLarge(ERR_TOO_LARGE.format(limit=limit))
    job = ImportJob(created_by=actor, filename=(filename or getattr(upload, "name", ""))[:255], dry_run=dry_run)
    folder = import_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job.uuid}.zip"
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(ERR_TOO_LARGE.format(limit=limit))
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job.path, job.sha256, job.size = str(path), digest.hexdigest(), size
    job.save()
    transaction.on_commit(lambda: _enqueue(job.pk))
    set_progress(job, "queued")
    return job


def _enqueue(job_id: int) -> None:
    run_import_job.delay(job_id)


# An import of a large registry outlasts the default limits (CELERY_TASK_SOFT_TIME_LIMIT). Its transaction is
# all-or-nothing: a limit reached midway rolls the import back and the job is marked failed. The task lives
# here, beside the work it runs (identities.tasks imports it for Celery's autodiscovery; its name is stable).
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


def import_job_run(job_id: int) -> str | None:
    """Run a queued job once; returns its final status, or None when there was nothing to do."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True)
            .select_related("created_by")
            .filter(pk=job_id, status=ImportJob.Status.QUEUED)
            .first()
        )
        if job is None:
            return None  # gone, finished, or being run by another worker right now
        set_progress(job, "running")
        result = _import(job)
        job.status = ImportJob.Status.SUCCEEDED if result.ok else ImportJob.Status.FAILED
        job.counts, job.report, job.finished_at = result.counts, result.report.as_json(), timezone.now()
        job.save(update_fields=["status", "counts", "report", "finished_at"])
        path = job.path
        transaction.on_commit(lambda: Path(path).unlink(missing_ok=True))
    set_progress(job, "done")
    return job.status


def _import(job: ImportJob) -> ImportResult:
    def progress(phase: str, info: dict) -> None:
        set_progress(job, phase, info)

    try:
        return registry_import(
            path=job.path,
            actor=job.created_by,
            dry_run=job.dry_run,
            filename=job.filename,
            job=job,
            progress=progress,
        )
    except PermissionDenied as error:  # the person lost their role since they uploaded
        return _failed(job, str(error))
    except FileNotFoundError:
        return _failed(job, "The uploaded file is no longer there; upload it again.")
    except Exception:
        log.exception("registry import job %s failed", job.uuid)
        return _failed(job, ERR_INTERNAL)


def _failed(job: ImportJob, message: str) -> ImportResult:
    report = Report()
    report.add(job.filename or "upload", None, None, message)
    return ImportResult(ok=False, dry_run=job.dry_run, sha256=job.sha256, size=job.size, report=report)
