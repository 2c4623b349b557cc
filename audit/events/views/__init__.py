"""The events app's entry points: ingest (`ingest`) and the chain page (`chains`)."""

from audit.events.views.chains import chain
from audit.events.views.ingest import events_ingest, traces_ingest

__all__ = ["chain", "events_ingest", "traces_ingest"]
