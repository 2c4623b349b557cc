from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers

from agentiam import refusals
from agentiam.api.errors import CSRF_FAILED, SERVER_ERROR, error_response, is_api_path
from agentiam.api.schema import lean_endpoint
from agentiam.dashboard import panels_for
from agentiam.permissions import SEE_EVERYTHING, public, roles_of, roles_required
from agentiam.status import system_status
from agentiam.worklist import items_for


@lean_endpoint(
    get=extend_schema(
        operation_id="healthz",
        summary="Liveness: the database answers",
        tags=["platform"],
        responses=inline_serializer(
            "Health", {"status": serializers.ChoiceField(choices=["ok"]), "time": serializers.DateTimeField()}
        ),
    )
)
@public
@require_GET
@never_cache
def healthz(request):
    """Liveness for load balancers and the supervisor: the database answers. Says nothing else."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat()})


@roles_required()
@require_GET
def dashboard(request):
    roles = roles_of(request.user)
    context = {
        # Platform health is operational detail: for the roles that see everything, not for outsiders.
        "status": system_status() if roles & SEE_EVERYTHING else None,
        "panels": panels_for(request),
        "has_role": bool(roles),
    }
    return render(request, "dashboard.html", context)


@roles_required()
@require_GET
def worklist(request):
    """What the person must do (agentiam.worklist). The dashboard loads the partial after the page, so its
    sources' queries never slow the page down; an empty partial removes the placeholder."""
    items = items_for(request.user)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "dashboard/worklist.html#items", {"items": items})
    return render(request, "dashboard/worklist.html", {"items": items})


# --- Error pages: JSON in the API's error shape under /api/, an HTML page everywhere else -----------------

ERROR_PAGES = {
    400: ("Bad request", "The request could not be understood. Check what you entered and try again."),
    403: ("Access denied", "Your role does not give access to this page."),
    404: ("Page not found", "There is nothing at this address, or it is not yours to see."),
    413: ("Request too large", "The request is larger than this server accepts."),
    500: ("Something went wrong", SERVER_ERROR),
}


def error_page(request: HttpRequest, status: int, detail: str | None = None, *, code: str | None = None):
    if is_api_path(request.path):
        return error_response(status, code, detail)
    title, message = ERROR_PAGES[status]
    context = {"status": status, "title": title, "message": detail or message}
    return render(request, "errors/error.html", context, status=status)


@requires_csrf_token
def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return error_page(request, 413)
    return error_page(request, 400)


@requires_csrf_token
def permission_denied(request, exception=None):
    # Our own PermissionDenied messages are written for people (roles_required); show them.
    message = str(exception) if exception is not None and str(exception) else None
    refusals.report(request, status=403, reason=message or "permission denied")
    return error_page(request, 403, message)


@requires_csrf_token
def page_not_found(request, exception=None):
    return error_page(request, 404)  # never the exception's text: it names models and queries


def server_error(request):
    if is_api_path(request.path):
        return error_response(500, "server_error", SERVER_ERROR)
    # No request context: the context processors would query a database that may be the problem.
    return HttpResponseServerError(loader.get_template("errors/500.html").render())


def csrf_failure(request, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/, a page that says what to do everywhere else."""
    if is_api_path(request.path):
        return error_response(403, "csrf_failed", CSRF_FAILED)
    message = "This form had expired or came from another site. Reload the page and try again."
    return render(
        request, "errors/error.html", {"status": 403, "title": "Form expired", "message": message}, status=403
    )
