"""The events app's entry points: ingest (`ingest`), the chain page (`chains`) and ingest keys (`keys`)."""

from audit.events.views.chains import chain, chain_list
from audit.events.views.ingest import events_ingest, traces_ingest
from audit.events.views.keys import ingest_key_new, ingest_key_revoke, ingest_keys
from audit.events.views.workflows import workflow_detail

__all__ = [
    "chain",
    "chain_list",
    "events_ingest",
    "ingest_key_new",
    "ingest_key_revoke",
    "ingest_keys",
    "traces_ingest",
    "workflow_detail",
]
