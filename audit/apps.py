from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from celery.signals import task_postrun, task_prerun

        from agentiam import refusals
        from audit import outbox, privileges  # noqa: F401 - audits failed outbox messages; the append-only check
        from audit.actors import job_finished, job_started
        from audit.security import record_probe, record_refusal
        from audit.services import ensure_signing_keys_after_migrate

        refusals.register(on_refused=record_refusal, on_probe=record_probe)
        # Entries a Celery task writes without an actor of their own name the task (audit.actors).
        task_prerun.connect(job_started, dispatch_uid="audit-job-started")
        task_postrun.connect(job_finished, dispatch_uid="audit-job-finished")

        # Once per `migrate` (sender: this app), after every app's migrations: missing signing keys are created.
        post_migrate.connect(ensure_signing_keys_after_migrate, sender=self, dispatch_uid="audit-signing-keys")
