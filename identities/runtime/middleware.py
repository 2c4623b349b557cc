"""The runtime's machine endpoints skip the browser middleware.

Token exchange, decide and introspect authenticate their callers themselves and answer JSON, so sessions,
authentication, the second-factor gate, messages, CSP, htmx and axes only cost time on them (STYLE.md #9).
Placed right after RequestGuardMiddleware, this calls a view marked `runtime_fast_path` directly: the size
and NUL guards and the API error shape still apply, and an exception still becomes the JSON 500.
"""

from __future__ import annotations

from django.urls import Resolver404, get_resolver

PREFIX = "/api/v1/runtime/"


def fast_path(view):
    view.runtime_fast_path = True
    return view


class RuntimeFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(PREFIX):
            try:
                match = get_resolver().resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            if getattr(match.func, "runtime_fast_path", False):
                request.resolver_match = match
                return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
