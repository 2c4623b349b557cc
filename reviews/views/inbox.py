"""The manager's inbox: pending requests this person may decide, most urgent first, each with what deciding
needs; approving (possibly less) or denying inline (htmx), the counts updated out of band."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agentiam.adapters import call_service
from agentiam.permissions import ALL_ROLES, roles_required
from reviews import services
from reviews.forms import DECIDE_ALIASES, DecideForm
from reviews.inbox_queries import forget, requests_to_decide
from reviews.models import RequestState
from reviews.views.reading import briefs, urgent_first, with_people
from reviews.views.requests import detail_context, request_or_404, request_url

INBOX_PAGE = 20


def pending_count(user) -> int:
    return requests_to_decide(user).count()


@roles_required(ALL_ROLES)
@require_GET
def inbox(request):
    """Every role may open it (a member of an approver group need not be a manager); it lists only what the
    person may decide now: reviews.rules, routing included."""
    queryset = urgent_first(with_people(requests_to_decide(request.user)))
    page = Paginator(queryset, INBOX_PAGE).get_page(request.GET.get("page"))
    rows = briefs(list(page.object_list))
    for row in rows:
        row.form = DecideForm(elevation_request=row)
    context = {"page": page, "rows": rows, "count": page.paginator.count}
    return render(request, "reviews/inbox.html", context)


def _outcome(found, decision: str, user) -> str:
    if decision == "deny":
        return "Denied: the request is closed and the requester is told."
    if found.state == RequestState.APPROVED:
        granted = ", ".join(found.granted_scopes or [])
        return f"Approved: {granted} granted until {found.grant.ends_at:%H:%M} UTC."
    return "Your approval is recorded; it waits for another approver."


@roles_required(ALL_ROLES)
@require_POST
def request_decide(request, uuid):
    """Approve (the form's terms: shorter, fewer scopes, a narrower scope object) or deny. Posted by htmx from
    the inbox it answers the request's card (from the request page, its decision panel) and the new counts;
    without JavaScript it redirects to the request's page."""
    elevation_request = request_or_404(request, uuid)
    form = DecideForm(request.POST, elevation_request=elevation_request)
    ok, status = False, 400
    if form.is_valid():
        decision = form.cleaned_data["decision"]
        comment = form.cleaned_data.get("comment") or ""
        common = {"elevation_request": elevation_request, "actor": request.user, "comment": comment, "request": request}
        if decision == "approve":
            ok, _, status = call_service(form, services.request_approve, aliases=DECIDE_ALIASES, **common,
                                         **form.terms())  # fmt: skip
        else:
            ok, _, status = call_service(form, services.request_deny, aliases=DECIDE_ALIASES, **common)
        if ok:
            forget(request.user)
            elevation_request = request_or_404(request, uuid)
            messages.success(request, _outcome(elevation_request, decision, request.user))
    if not request.htmx:
        if ok:
            return redirect(request_url(elevation_request))
        context = {**detail_context(request, elevation_request), "deciding": True, "form": form}
        return render(request, "reviews/request_detail.html", context, status=status)
    on_page = (request.htmx.target or "").startswith("decide-")
    context = {**detail_context(request, elevation_request), "form": form if not ok else None, "just_decided": ok}
    context["count"] = pending_count(request.user)
    elevation_request.form = None if ok else form
    context["row"] = elevation_request
    template = "reviews/request_detail.html#decide" if on_page else "reviews/inbox.html#card"
    return render(request, template, {**context, "oob": True}, status=200 if ok else status)
