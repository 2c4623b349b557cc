"""Event ingest skips the browser middleware (STYLE.md #9), as the runtime's machine endpoints do.

`POST /api/v1/events` and `POST /v1/traces` authenticate their senders themselves and answer in their own
protocol's shape, so sessions, authentication, the second-factor gate, messages, CSP, htmx and axes only cost
time on them. Placed right after RequestGuardMiddleware (size and NUL guards, the API error shape), this
calls the view directly.
"""

from __future__ import annotations

from audit.events.views.ingest import events_ingest, traces_ingest

PATHS = {"/api/v1/events": events_ingest, "/v1/traces": traces_ingest}


class IngestFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = PATHS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        return view(request)
