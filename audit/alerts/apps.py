from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts raised by the detectors over action events (label `audit_alerts`): the evaluator's cursor, the
    baselines it keeps, the alerts, their triage, the navigation entry and the analysts' work-list item."""

    name = "audit.alerts"
    label = "audit_alerts"
    verbose_name = "Alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit.alerts import worklist  # noqa: F401 - registers the analysts' work-list source
