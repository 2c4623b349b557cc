"""Routes of the events app (included from agentiam/urls.py): ingest (IngestFastPathMiddleware answers these
paths before the browser middleware; the routes keep them resolvable, named and in the API root), the chain
page and the ingest-key pages."""

from django.urls import path

from audit.events import views

urlpatterns = [
    path("api/v1/events", views.events_ingest, name="events-ingest"),
    path("v1/traces", views.traces_ingest, name="otlp-traces"),
    path("events/chains/", views.chain_list, name="chains"),
    path("events/chains/<str:trace_id>/", views.chain, name="chain"),
    path("workflows/<uuid:uuid>/", views.workflow_detail, name="workflow"),
    path("events/ingest-keys/", views.ingest_keys, name="ingest-keys"),
    path("events/ingest-keys/new/", views.ingest_key_new, name="ingest-key-new"),
    path("events/ingest-keys/<uuid:uuid>/revoke/", views.ingest_key_revoke, name="ingest-key-revoke"),
]
