"""One way for a view, a form page, an htmx partial and a DRF view to call a service and answer its refusal
(the error types in `agentiam.errors`):

- form pages and htmx partials: `call_service(form, service, **kwargs)` → `(ok, result, status)`. A refusal
  is written into the form — field errors beside their fields (`aliases` maps a service's field name to the
  form's), "not you" and state conflicts as form-wide errors — and `status` is 400, 403 or 409;
  `form_status(request, status)` is what the page shown again answers, `done(request, url)` is the answer
  after a change (a redirect; for htmx an HX-Redirect). `confirm()` is the whole page of one form and one
  service: reason-and-confirm pages (templates/components/confirm_actions.html is their form's end) and
  create/edit forms.
- DRF views: `ServiceErrors` (a mixin whose handle_exception maps the refusal) or `api_call(service, ...)`;
  `api_error(error)` is the mapping: ValidationError → 400 naming the field, PermissionDenied → 403 with the
  service's reason (DRF would drop it), Conflict → 409. The API's error shape comes from
  `agentiam.api.errors.exception_handler`.
- Http404 is never caught: it is a 404 page or a 404 answer in the API's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from rest_framework import exceptions, status

from agentiam import refusals
from agentiam.errors import Conflict

__all__ = [
    "ConflictError",
    "ServiceErrors",
    "api_call",
    "api_error",
    "apply_errors",
    "call_service",
    "confirm",
    "done",
    "form_status",
]

NOT_YOU = "You may not make this change."


# --- form pages and htmx partials -----------------------------------------------------------------------------


def apply_errors(form, error: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (unknown fields become form-wide errors)."""
    aliases = aliases or {}
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            name = aliases.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


def call_service(form, service: Callable[..., Any], *, aliases: dict[str, str] | None = None, **kwargs):
    """Run one service for a valid form: (True, result, 200), or (False, None, status) with the refusal
    written into the form — 400 for bad input, 403 for "not you", 409 for the object's state."""
    try:
        result = service(**kwargs)
    except ValidationError as error:
        apply_errors(form, error, aliases)
        return False, None, 400
    except PermissionDenied as error:
        form.add_error(None, str(error) or NOT_YOU)
        refusals.report(kwargs.get("request"), status=403, reason=str(error) or NOT_YOU)
        return False, None, 403
    except Conflict as error:
        form.add_error(None, str(error))
        return False, None, 409
    return True, result, 200


def form_status(request, status: int | None = None) -> int:
    """A form page shown again after a POST is showing errors: say so with a 4xx."""
    if request.method != "POST":
        return 200
    return status or 400


def done(request, url: str) -> HttpResponse:
    """After a change: a redirect, or for htmx a full navigation (the whole page may have changed)."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def confirm(
    request,
    template: str,
    context: dict[str, Any],
    *,
    form_class,
    service: Callable[..., Any],
    success: Callable[[Any], HttpResponse],
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    refusal_status: int | None = None,
    partial: str | None = None,
    stale: str | None = None,
    **kwargs,
) -> HttpResponse:
    """A page of one form that runs one service — a reason-and-confirm page (revoke, suspend, end, disable;
    approve, deny, certify) or a create/edit form (`form_class` may be a partial with its initial values): GET
    shows it, a valid POST runs `service(**kwargs, **arguments(cleaned_data), request=request)` — `arguments`
    defaults to the form's cleaned data — and answers `success(result)`; a refusal shows the page again with its
    reason and its status (400, 403 or 409; `refusal_status` instead, for pages that always answered one).

    Posted inline by htmx, a refusal renders `partial` (the panel the form came from) instead of the page;
    with `stale` (the page's URL), a state conflict (409) sends the browser back to that page with the reason,
    since all of it is out of date."""
    form = form_class(request.POST or None)
    status_code = None
    if request.method == "POST" and form.is_valid():
        given = arguments(form.cleaned_data) if arguments else dict(form.cleaned_data)
        ok, result, status_code = call_service(form, service, **kwargs, **given, request=request)
        if ok:
            return success(result)
    if status_code and refusal_status:
        status_code = refusal_status
    if request.htmx and request.method == "POST" and partial:
        if status_code == 409 and stale:
            messages.error(request, " ".join(form.non_field_errors()))
            return done(request, stale)
        template = partial
    return render(request, template, {**context, "form": form}, status=form_status(request, status_code))


# --- DRF views ------------------------------------------------------------------------------------------------


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this change."
    default_code = "conflict"


def api_error(error: Exception) -> Exception:
    """A service's refusal as the DRF exception that answers it (others unchanged)."""
    if isinstance(error, ValidationError):
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        return exceptions.ValidationError(detail)
    if isinstance(error, Conflict):
        return ConflictError(str(error))
    if isinstance(error, PermissionDenied) and str(error):
        return exceptions.PermissionDenied(str(error))  # DRF would drop the service's reason
    return error


def api_call(service: Callable[..., Any], **kwargs):
    """Run a service from a DRF view; its refusal is raised as the DRF exception that answers it."""
    try:
        return service(**kwargs)
    except (ValidationError, PermissionDenied, Conflict) as error:
        raise api_error(error) from None


class ServiceErrors:
    """DRF view mixin: services' refusals raised anywhere in the view answer 400, 403 or 409."""

    def handle_exception(self, exc):
        return super().handle_exception(api_error(exc))
