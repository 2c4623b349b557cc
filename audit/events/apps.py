from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Action events and their ingest (label `audit_events`): the partitioned event table, ingest keys and
    the endpoints `POST /api/v1/events` and `POST /v1/traces`."""

    name = "audit.events"
    label = "audit_events"
    verbose_name = "Action events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit.events import (
            partitions,  # noqa: F401 - registers the event table with the partition manager
            slots,  # noqa: F401 - registers the recent chain steps beside "My reviews"
        )
