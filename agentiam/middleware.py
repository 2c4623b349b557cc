"""Request guards and response conventions that sit in front of every view.

`RequestGuardMiddleware` refuses, before any view or database sees them, bodies over
DATA_UPLOAD_MAX_MEMORY_SIZE (413) and NUL characters anywhere in the input (400) — PostgreSQL rejects NUL
in text, which would otherwise surface as a 500 — gives every 4xx under /api/ the JSON error shape, and
marks every answer under /api/ and every download (Content-Disposition: attachment) `Cache-Control: no-store`.
`HtmxToastMiddleware` turns Django messages into toasts for htmx requests (the HX-Trigger header).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.utils.cache import patch_cache_control

from agentiam import jsonsafe
from agentiam.api.errors import (
    NUL_REFUSED,
    REQUEST_TOO_LARGE,
    ApiInputError,
    error_body,
    error_response,
    is_api_path,
)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
NUL = "\x00"
# OAuth endpoints (RFC 6749 section 5.2): `invalid_request` with `error_description`, our code as `limit`.
OAUTH_PATHS = frozenset({"/api/v1/runtime/token"})


def _printable(name: str) -> str:
    return name.replace(NUL, "\\u0000")


def _nul_in_pairs(pairs) -> str | None:
    for key, values in pairs:
        if NUL in key or any(NUL in value for value in values):
            return _printable(key)
    return None


def _nul_in_json(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where or "body" if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if NUL in key:
                return _printable(here)
            found = _nul_in_json(item, here)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in_json(item, f"{where}.{index}" if where else str(index))
            if found:
                return found
    return None


def nul_field(request: HttpRequest) -> str | None:
    """The name of the first input that carries a NUL character, or None."""
    if NUL in request.path_info:
        return "path"
    found = _nul_in_pairs(request.GET.lists())
    if found or request.method not in BODY_METHODS:
        return found
    content_type = request.content_type or ""
    if content_type in FORM_TYPES:
        if request.method == "POST":
            # Parsing here means views can no longer swap upload handlers; none of ours needs to.
            return _nul_in_pairs(request.POST.lists())
        if content_type == FORM_TYPES[0]:
            return _nul_in_pairs(QueryDict(request.body, encoding=request.encoding).lists())
        return None
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None  # compressed (event ingest's gzip): the view checks what it decompresses
    if content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        if b"\x00" in body:
            return "body"
        if b"\\u0000" in body:  # cheap test first; the escape may also be an escaped backslash
            try:
                return _nul_in_json(jsonsafe.loads(body), "")
            except jsonsafe.JsonRefused:
                return None  # malformed JSON: the view's parser answers 400
    return None


def _body_limit(request: HttpRequest) -> int | None:
    """DATA_UPLOAD_MAX_MEMORY_SIZE, or a larger limit for multipart uploads to a path of UPLOAD_LIMITS."""
    if (request.content_type or "").startswith("multipart/"):
        for prefix, limit in getattr(settings, "UPLOAD_LIMITS", {}).items():
            if request.path.startswith(prefix):
                return limit
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _too_large(request: HttpRequest) -> bool:
    limit = _body_limit(request)
    if limit is None:
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if length <= limit:
        return False
    # Outside the API, Django's own limit leaves out uploaded files in multipart bodies; the API has none.
    return is_api_path(request.path) or not (request.content_type or "").startswith("multipart/")


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    return content_type == "application/json" or content_type.endswith("+json")


def _is_download(response: HttpResponse) -> bool:
    return response.get("Content-Disposition", "").lower().startswith("attachment")


def _reshape(response: HttpResponse) -> HttpResponse:
    """A Django-level 4xx under /api/ (an unknown path, a method not allowed, …) in the error shape."""
    shaped = error_response(response.status_code)
    for header, value in response.headers.items():
        if header.lower() not in ("content-type", "content-length"):
            shaped[header] = value
    shaped.cookies = response.cookies
    return shaped


def _refusal(request: HttpRequest, status: int, code: str, detail: str, fields=None) -> JsonResponse:
    if request.path in OAUTH_PATHS:  # the token endpoint's own shape for a refused body (exchange_error)
        body = {**error_body("invalid_request", detail, fields), "error_description": detail, "limit": code}
    else:
        body = error_body(code, detail, fields)
    return JsonResponse(body, status=status)


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self._answer(request)
        if is_api_path(request.path) or _is_download(response):
            # Private answers (a token's or a session's view of the registry, /me/, exports) stay out of every
            # cache, shared or not; the public schema loses nothing by it.
            patch_cache_control(response, no_store=True)
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse:
        from agentiam import views  # views import the API package, which imports nothing of ours back

        api = is_api_path(request.path)
        if _too_large(request):
            detail = REQUEST_TOO_LARGE.format(limit=_body_limit(request))
            if api:
                return _refusal(request, 413, "request_too_large", detail)
            return views.error_page(request, 413, detail)
        field = nul_field(request)
        if field is not None:
            if api:
                return _refusal(request, 400, "nul_character", NUL_REFUSED, {field: [NUL_REFUSED]})
            return views.error_page(request, 400, f"{NUL_REFUSED} ({field})")
        response = self.get_response(request)
        if api and 400 <= response.status_code < 500 and not _is_json(response) and not response.streaming:
            return _reshape(response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, ApiInputError):
            return error_response(400, exception.code, exception.detail, exception.fields)
        return None


class HtmxToastMiddleware:
    """Pending Django messages → `HX-Trigger: {"toast": {"items": [...]}}` on htmx responses that swap
    content in place, so a view just calls messages.success(...) whether or not htmx made the request.
    static/agentiam/js/toasts.js shows them. Must sit after MessageMiddleware and HtmxMiddleware."""

    NAVIGATING = ("HX-Redirect", "HX-Location", "HX-Refresh")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx or htmx.history_restore_request or 300 <= response.status_code < 400:
            return response
        if any(header in response for header in self.NAVIGATING):
            return response  # the next full page renders the messages itself
        storage = messages.get_messages(request)
        if getattr(storage, "used", True):
            return response  # the template already showed them
        items = [{"level": message.level_tag or "info", "message": str(message)} for message in storage]
        if items:
            response["HX-Trigger"] = json.dumps({**_triggers(response.get("HX-Trigger")), "toast": {"items": items}})
        return response


def _triggers(header: str | None) -> dict:
    if not header:
        return {}
    try:
        value = json.loads(header)
    except ValueError:
        return {name.strip(): None for name in header.split(",") if name.strip()}
    return value if isinstance(value, dict) else {}
