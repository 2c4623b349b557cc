"""Action events: what identities did, ingested from our JSON shape and OTLP traces, linked by trace and
parent span into action chains. Its own Django app (label `audit_events`), imported only by URL
configurations; it reads every other app."""
