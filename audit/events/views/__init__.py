"""The events app's entry points: ingest (`ingest`), the chain page (`chains`) and ingest keys (`keys`)."""

from audit.events.views.chains import chain
from audit.events.views.ingest import events_ingest, traces_ingest
from audit.events.views.keys import ingest_key_new, ingest_key_revoke, ingest_keys

__all__ = ["chain", "events_ingest", "ingest_key_new", "ingest_key_revoke", "ingest_keys", "traces_ingest"]
