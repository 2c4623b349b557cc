from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self):
        from audit import outbox, privileges  # noqa: F401 - audits failed outbox messages; the append-only check
