"""The events app's entry points: ingest (`ingest`)."""

from audit.events.views.ingest import events_ingest, traces_ingest

__all__ = ["events_ingest", "traces_ingest"]
