"""Session timeouts and the second-factor gate.

Both look only at the browser session. An API client that sends a Bearer token to /api/ carries no
session and is left to the token authentication; a Bearer header on a page outside /api/ exempts nothing,
so it cannot be used to slip past the gate with a half-signed-in session.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from identities.signin.second_factor import ENROL, pending_step

SESSION_SIGNED_IN_AT = "agentiam_signed_in_at"
SESSION_LAST_ACTIVITY = "agentiam_last_activity"
# Recording activity costs a session write; once a minute is precise enough for a 30-minute timeout.
ACTIVITY_RESOLUTION = 60

IDLE, ABSOLUTE = "idle", "absolute"
SIGNED_OUT_IDLE = "You were signed out after {minutes} minutes without activity. Sign in again to continue."
SIGNED_OUT_ABSOLUTE = "Your sign-in lasted its maximum of {hours} hours. Sign in again to continue."
SECOND_FACTOR_REQUIRED_DETAIL = "Finish signing in with your second factor before using this session."

# Pages a half-signed-in person must still reach (everything public is reachable anyway).
EXEMPT_URL_NAMES = frozenset(
    {
        "login",
        "logout",
        "healthz",
        "second_factor_verify",
        "second_factor_enrol",
        "oidc_authentication_init",
        "oidc_authentication_callback",
    }
)


def idle_timeout() -> int:
    return int(getattr(settings, "SESSION_IDLE_TIMEOUT", 30 * 60))


def absolute_timeout() -> int:
    return int(getattr(settings, "SESSION_ABSOLUTE_TIMEOUT", settings.SESSION_COOKIE_AGE))


def is_token_api_request(request) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return request.path.startswith("/api/") and header[:7].lower() == "bearer "


def _navigate(request, url: str) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        # htmx would swap the target page into a fragment; make the browser navigate instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _with_next(url: str, request) -> str:
    here = request.headers.get("HX-Current-URL") if request.headers.get("HX-Request") == "true" else None
    if here is None:
        here = request.get_full_path() if request.method in ("GET", "HEAD") else reverse("dashboard")
    return f"{url}?{urlencode({'next': here})}"


def timeout_reason(session, now: float) -> str | None:
    signed_in = session.get(SESSION_SIGNED_IN_AT)
    if isinstance(signed_in, int | float) and now - signed_in > absolute_timeout():
        return ABSOLUTE
    last = session.get(SESSION_LAST_ACTIVITY)
    if isinstance(last, int | float) and now - last > idle_timeout():
        return IDLE
    return None


def start_session_clock(session, now: float | None = None) -> None:
    now = int(now if now is not None else time.time())
    session[SESSION_SIGNED_IN_AT] = now
    session[SESSION_LAST_ACTIVITY] = now


class SessionTimeoutMiddleware:
    """Signs a person out once they have been idle for SESSION_IDLE_TIMEOUT seconds or signed in for
    SESSION_ABSOLUTE_TIMEOUT seconds, whichever comes first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_token_api_request(request) and request.user.is_authenticated:
            now = time.time()
            reason = timeout_reason(request.session, now)
            if reason is not None:
                return self._sign_out(request, reason)
            if SESSION_SIGNED_IN_AT not in request.session:
                # A session from before this clock existed: start it now rather than end it.
                start_session_clock(request.session, now)
            elif now - request.session.get(SESSION_LAST_ACTIVITY, 0) >= ACTIVITY_RESOLUTION:
                request.session[SESSION_LAST_ACTIVITY] = int(now)
        return self.get_response(request)

    def _sign_out(self, request, reason: str):
        request.agentiam_logout_reason = f"timeout_{reason}"
        logout(request)
        if reason == IDLE:
            text = SIGNED_OUT_IDLE.format(minutes=idle_timeout() // 60)
        else:
            text = SIGNED_OUT_ABSOLUTE.format(hours=f"{absolute_timeout() / 3600:g}")
        messages.info(request, text)
        if request.path.startswith("/api/"):
            # The API answers as for any anonymous call (401); no redirect to a page.
            return self.get_response(request)
        return _navigate(request, _with_next(reverse("login"), request))


class SecondFactorMiddleware:
    """Keeps every page unreachable until the person has passed their second factor in this session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_token_api_request(request) or not request.user.is_authenticated:
            return None
        if getattr(view_func, "is_public", False) or getattr(view_func, "second_factor_exempt", False):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in EXEMPT_URL_NAMES:
            return None
        step = pending_step(request)
        if step is None:
            return None
        if request.path.startswith("/api/"):
            return JsonResponse(
                {"error": "second_factor_required", "detail": SECOND_FACTOR_REQUIRED_DETAIL}, status=403
            )
        target = reverse("second_factor_enrol" if step == ENROL else "second_factor_verify")
        return _navigate(request, _with_next(target, request))
