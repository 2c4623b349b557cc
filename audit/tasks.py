from celery import shared_task

from audit.checkpoints import checkpoint_create, sink_sync


@shared_task(name="audit.tasks.write_checkpoint", ignore_result=True)
def write_checkpoint() -> None:
    """Every minute (beat) and every AUDIT_CHECKPOINT_EVERY entries: checkpoint the trail if it grew, and
    bring the external sink up to date. Idempotent: nothing new means no checkpoint."""
    if checkpoint_create() is None:
        sink_sync()  # a sink that missed a copy (it was down) catches up even when the trail is quiet
