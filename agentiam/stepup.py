"""Step-up: a fresh proof of the password (and the second factor) before a sensitive action.

Role grants, key rotation, policy activation, resume and break-glass are decorated with
`step_up_required`. The proof lives in the session for settings.STEP_UP_MAX_AGE seconds and is bound to
the person who gave it. A request authenticated by an API token can never be stepped up: a stolen token
must not be enough to perform these actions.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from agentiam.api.errors import error_body

SESSION_AT = "agentiam_step_up_at"
SESSION_USER = "agentiam_step_up_user"
STEP_UP_API_DETAIL = "This action needs a fresh sign-in check in a browser session; an API token cannot perform it."


def max_age() -> int:
    return int(getattr(settings, "STEP_UP_MAX_AGE", 300))


def is_api_token_request(request) -> bool:
    """True when the request carries an API token (DRF's request.auth, or a Bearer header even if the
    view never ran DRF authentication)."""
    if getattr(request, "auth", None) is not None:
        return True
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header[:7].lower() == "bearer "


def is_stepped_up(request) -> bool:
    if is_api_token_request(request):
        return False
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is None or not user.is_authenticated or session is None:
        return False
    at, who = session.get(SESSION_AT), session.get(SESSION_USER)
    if who is None or str(who) != str(user.pk) or not isinstance(at, int | float):
        return False
    return 0 <= time.time() - at <= max_age()


def step_up_remaining(request) -> int:
    """Seconds the current step-up stays valid (0 when there is none)."""
    if not is_stepped_up(request):
        return 0
    return max(0, int(request.session[SESSION_AT] + max_age() - time.time()))


def mark_stepped_up(request) -> None:
    """Record a successful step-up in the session (the caller audits it)."""
    request.session[SESSION_AT] = int(time.time())
    request.session[SESSION_USER] = request.user.pk


def clear_step_up(request) -> None:
    for key in (SESSION_AT, SESSION_USER):
        request.session.pop(key, None)


def _return_to(request) -> str:
    """Where to go once stepped up. A form POST cannot be replayed, so it returns to the page the form
    was on (htmx's current URL or the Referer, when they are ours); a GET returns to itself."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    for candidate in (request.headers.get("HX-Current-URL"), request.headers.get("Referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return request.get_full_path()


def step_up_response(request) -> HttpResponse:
    """The answer to a request that needs a step-up it does not have."""
    if is_api_token_request(request) or request.path.startswith("/api/"):
        return JsonResponse(error_body("step_up_required", STEP_UP_API_DETAIL), status=403)
    url = f"{reverse('step_up')}?{urlencode({'next': _return_to(request)})}"
    if request.headers.get("HX-Request") == "true":
        # htmx would follow a 302 inside the swap target; ask it to navigate instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _request_of(args) -> HttpRequest:
    # Function views get the request first; methods of class-based views (Django or DRF) get it second.
    first = args[0]
    if isinstance(first, HttpRequest) or hasattr(first, "_request"):
        return first
    return args[1]


def step_up_required(view):
    """Decorator for function views and view methods: refuse unless the session is freshly stepped up."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        request = _request_of(args)
        if not is_stepped_up(request):
            return step_up_response(request)
        return view(*args, **kwargs)

    wrapper.step_up_required = True
    return wrapper


__all__ = [
    "SESSION_AT",
    "SESSION_USER",
    "STEP_UP_API_DETAIL",
    "clear_step_up",
    "is_api_token_request",
    "is_stepped_up",
    "mark_stepped_up",
    "step_up_remaining",
    "step_up_required",
]
