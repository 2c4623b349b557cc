from django.urls import include, path

from agentiam import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("worklist/", views.worklist, name="worklist"),
    path("", include("identities.signin.urls")),  # sign-in, second factor, step-up, single sign-on
    path("", include("identities.urls")),
    path("api/v1/runtime/", include("identities.runtime.urls_api")),  # token, decide, introspect, tasks
    path("api/v1/runtime/", include("reviews.urls_runtime")),  # the agent asking for elevation itself
    path("", include("audit.events.urls")),  # event ingest: POST /api/v1/events, OTLP POST /v1/traces
    path("api/", include("agentiam.api.urls")),  # /api/v1/ (every app's api module), schema, docs
    path("runtime/", include("identities.runtime.urls")),  # gateways, trust, decision log
    path(".well-known/", include("identities.runtime.urls_wellknown")),  # jwks.json: public token keys
    path("audit/", include("audit.urls")),
    path("alerts/", include("audit.alerts.urls")),  # alerts raised by the detectors, their triage
    path("reviews/calls/", include("reviews.urls_calls")),  # per-call re-authorisation
    path("reviews/", include("reviews.urls")),  # elevation requests: ask, inbox, history, break-glass, rules
]

# JSON in the API error shape under /api/, HTML pages elsewhere (agentiam.views).
handler400 = "agentiam.views.bad_request"
handler403 = "agentiam.views.permission_denied"
handler404 = "agentiam.views.page_not_found"
handler500 = "agentiam.views.server_error"
