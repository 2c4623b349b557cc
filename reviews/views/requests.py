"""An owner asks for elevation for an identity they may change; one request's page; withdrawing it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from agentiam.adapters import call_service, confirm, done, form_status
from agentiam.permissions import ALL_ROLES, roles_required
from identities.models import IdentityStatus, Task, Tool
from identities.rules import CHANGERS
from identities.views.registry.common import identity_or_404
from reviews import services
from reviews.forms import ASK_ALIASES, DecideForm, RequestForm, WithdrawForm, minutes
from reviews.inbox_queries import deciding_ids, requests_visible_to
from reviews.models import RequestState
from reviews.services import facts
from reviews.services.requests import ERR_NOT_REQUESTER
from reviews.views.reading import briefs, with_people

MAX_OPTIONS = 200


def request_url(elevation_request) -> str:
    return reverse("reviews:request", args=[elevation_request.uuid])


def request_or_404(request, uuid):
    return get_object_or_404(with_people(requests_visible_to(request.user)), uuid=uuid)


def _options(identity) -> tuple[list[dict], int]:
    """Every tool and action the acceptable use in force allows, with the cap and approvals of its rule."""
    aup = facts.current_aup(identity)
    if aup is None:
        return [], 0
    tools = [t for t in Tool.objects.select_related("system").order_by("key") if facts.aup_allows(aup, t)]
    pairs = [(tool, action) for tool in tools for action in tool.actions][:MAX_OPTIONS]
    caps = facts.caps_for(identity, pairs)
    options = []
    for tool, action in pairs:
        cap, approvals, auto = caps[tool.pk, action]
        options.append({
            "value": f"{tool.key}:{action}", "tool": tool, "action": action, "cap": minutes(cap),
            "approvals": approvals, "auto": auto,
        })  # fmt: skip
    return options, max((caps[key][0] for key in caps), default=0)


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def request_create(request, uuid):
    """The owner's form: scopes, an optional scope object, the task, why, how long (capped) and how urgent."""
    identity = identity_or_404(request, uuid, "change")
    options, longest = _options(identity)
    initial = {"scopes": request.GET.getlist("scope"), "task": request.GET.get("task", "")}
    form = RequestForm(request.POST or None, initial=initial, options=options, longest=max(longest, 60))
    status = None
    if request.method == "POST" and form.is_valid():
        started = timezone.now()
        ok, created, status = call_service(form, services.request_create, aliases=ASK_ALIASES, identity=identity,
                                           actor=request.user, request=request, **form.service_kwargs())  # fmt: skip
        if ok:
            if created.state == RequestState.APPROVED:
                messages.success(request, "Approved at once by the approval rule for low-risk read: the grant is live.")
            elif created.created_at < started:
                messages.info(request, "A pending request already asked for exactly this: yours was merged into it.")
            else:
                messages.success(request, f"Asked. It waits for {created.approvals_needed} approver(s).")
            return redirect(request_url(created))
    context = {
        "identity": identity,
        "form": form,
        "options": options,
        "open_tasks": Task.objects.filter(identity=identity, state=Task.State.OPEN).order_by("-created_at")[:50],
        "active": identity.status == IdentityStatus.ACTIVE,
        "aup": facts.current_aup(identity),
    }
    return render(request, "reviews/request_form.html", context, status=form_status(request, status))


def detail_context(request, elevation_request) -> dict:
    briefs([elevation_request])
    deciding = elevation_request.pk in deciding_ids(request.user)
    return {
        "r": elevation_request,
        "deciding": deciding,
        "may_withdraw": elevation_request.state == RequestState.PENDING
        and elevation_request.requested_by_id == request.user.pk,
    }


@roles_required(ALL_ROLES)
@require_GET
def request_detail(request, uuid):
    """One request: what is asked, what it was decided on, who decided what and when, and (for whoever may
    decide it now) the decision form. A notification's link lands here, after sign-in if need be."""
    elevation_request = request_or_404(request, uuid)
    context = detail_context(request, elevation_request)
    if context["deciding"]:
        context["form"] = DecideForm(elevation_request=elevation_request)
    return render(request, "reviews/request_detail.html", context)


@roles_required(CHANGERS)
@require_http_methods(["GET", "POST"])
def request_withdraw(request, uuid):
    """The requester takes back a pending request, after a confirmation."""
    elevation_request = request_or_404(request, uuid)
    if elevation_request.requested_by_id != request.user.pk:  # seeing it is not enough: only the requester
        raise PermissionDenied(ERR_NOT_REQUESTER)

    def withdrawn(found):
        messages.success(request, "Withdrawn: nobody will be asked to decide it.")
        return done(request, request_url(found))

    if elevation_request.state != RequestState.PENDING and request.method == "GET":
        return redirect(request_url(elevation_request))
    return confirm(request, "reviews/request_withdraw.html", {"r": elevation_request}, form_class=WithdrawForm,
                   service=services.request_withdraw, success=withdrawn, elevation_request=elevation_request,
                   actor=request.user)  # fmt: skip


__all__ = ["detail_context", "request_create", "request_detail", "request_or_404", "request_url", "request_withdraw"]
