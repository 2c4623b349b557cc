from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from audit import outbox, privileges  # noqa: F401 - audits failed outbox messages; the append-only check
        from audit.services import ensure_signing_keys_after_migrate

        # Once per `migrate` (sender: this app), after every app's migrations: missing signing keys are created.
        post_migrate.connect(ensure_signing_keys_after_migrate, sender=self, dispatch_uid="audit-signing-keys")
