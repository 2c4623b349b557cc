"""One error shape for every 4xx (and 5xx) on /api/ paths:

    {"error": "<code>", "detail": "<message>", "fields": {"<field>": ["<message>", ...]}}

DRF views get it from `exception_handler` (settings: REST_FRAMEWORK["EXCEPTION_HANDLER"]); Django-level
responses (unknown paths, CSRF failures, oversized bodies, NUL characters, the error handlers) get it
from `agentiam.middleware` and `agentiam.views`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from agentiam import refusals

API_PREFIX = "/api/"

# The machine-readable code for a bare status, when nothing more specific is known.
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    502: "bad_gateway",
    503: "unavailable",
}

INVALID_INPUT = "Some fields are not valid."
NOT_FOUND = "No API endpoint or object at this address."
CSRF_FAILED = "CSRF check failed: send the X-CSRFToken header with a session, or use an API token."
REQUEST_TOO_LARGE = "The request body is larger than the {limit} bytes this server accepts."
NUL_REFUSED = "NUL characters (\\u0000) are not accepted."
SERVER_ERROR = "The server could not complete the request. The error has been logged."


class ApiInputError(Exception):
    """Raised by plain Django API views (and helpers such as `json_body`) for input that must get a 400.

    The middleware turns it into the error shape, so lean views need no try/except of their own."""

    def __init__(self, detail: str, *, code: str = "bad_request", fields: dict[str, list[str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.fields = fields or {}


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX)


def error_body(code: str, detail: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": code, "detail": detail, "fields": fields or {}}


def error_response(
    status: int, code: str | None = None, detail: str | None = None, fields: dict[str, list[str]] | None = None
) -> JsonResponse:
    code = code or STATUS_CODES.get(status) or ("bad_request" if status < 500 else "server_error")
    detail = detail or HTTPStatus(status).phrase
    return JsonResponse(error_body(code, detail, fields), status=status)


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure → {"dotted.path": [messages]} (list items are numbered)."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(errors, list) and errors and all(isinstance(item, str) for item in errors):
        flat[prefix] = [str(item) for item in errors]
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    elif errors:
        flat[prefix] = [str(errors)]
    return flat


def _first_code(codes: Any) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = list(codes.values())
    if isinstance(codes, list):
        for item in codes:
            found = _first_code(item)
            if found:
                return found
    return None


def exception_handler(exc, context):
    """DRF's handler, reshaped: every APIException (and Http404 / PermissionDenied) answers the error shape."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a real 500, answered by handler500 in the same shape
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
        fields = _flatten(detail)
        general = fields.pop(api_settings.NON_FIELD_ERRORS_KEY, [])
        code = "invalid" if fields else (_first_code(exc.get_codes()) or "invalid")
        response.data = error_body(code, " ".join(general) or INVALID_INPUT, fields)
        return response
    detail = getattr(exc, "detail", None) or HTTPStatus(response.status_code).phrase
    if isinstance(exc, exceptions.APIException):
        code = _first_code(exc.get_codes()) or STATUS_CODES.get(response.status_code, "error")
    else:
        code = STATUS_CODES.get(response.status_code, "error")
    text = str(detail)
    if code == "permission_denied" and text.startswith("CSRF Failed"):
        # DRF's SessionAuthentication words its CSRF refusal as a plain permission error.
        code, text = "csrf_failed", CSRF_FAILED
    if code == "not_found" and text == exceptions.NotFound.default_detail:
        text = NOT_FOUND
    response.data = error_body(code, text, getattr(exc, "fields", None))  # an APIException may name its fields
    if response.status_code in (401, 403) and code != "step_up_required":
        refusals.report(context.get("request"), status=response.status_code, reason=text, view=context.get("view"))
    return response
