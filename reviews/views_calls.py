"""Per-call re-authorisation in the browser: the pending calls a manager may decide (also shown in the inbox
through the `elevation_inbox` slot), one call's page (the `form_url` of a deny's access request), and approve
/ deny without a page reload (htmx swaps the call's card). Latency of the path is shown beside them."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from agentiam.adapters import call_service, done, form_status
from agentiam.permissions import SEE_EVERYTHING, Role, has_role, roles_of, roles_required
from identities.models import Identity, current_ownerships
from identities.runtime.models import CallAuthorisation, CallState
from identities.runtime.services.percall import call_latency
from reviews import rules
from reviews.call_queries import calls_to_decide, forget
from reviews.forms_calls import CallDecisionForm
from reviews.services import calls

CALL_READERS = SEE_EVERYTHING | {Role.MANAGER}
CALL_DECIDERS = frozenset({Role.MANAGER})
RECENT = 10


def visible_calls(user):
    """Call authorisations of identities `user` may see (a manager: those their reports own), those routed to
    them (a delegate, a manager above standing in) and those they decided."""
    seen = Q(identity__in=Identity.objects.restrict(user)) | Q(pk__in=calls_to_decide(user)) | Q(decided_by=user)
    return CallAuthorisation.objects.filter(seen).select_related("identity", "actor", "tool", "task", "decided_by")


def pending_calls(user):
    return visible_calls(user).filter(state=CallState.PENDING, expires_at__gt=timezone.now()).order_by("requested_at")


def decorate(request, rows):
    """Each row with whether this person may decide it (and why not), so nobody sees a button they cannot use:
    the service's answer for every row at once (reviews.call_queries), and for the others the first refusal of
    reviews.rules.may_decide, or that routing names someone else."""
    user = request.user
    decider = has_role(user, *CALL_DECIDERS)
    deciding = set(calls_to_decide(user)) if decider else set()
    owned = set(current_ownerships().filter(person=user).values_list("identity_id", flat=True)) if decider else set()
    candidate = rules.Candidate(user.pk, roles_of(user))
    for row in rows:
        row.can_decide, row.why_not = False, ""
        if not decider or row.state != CallState.PENDING:
            continue
        persons = {row.identity.person_id, row.actor.person_id if row.actor_id else None} - {None}
        asked = rules.Asked(
            requester=row.identity.person_id,
            owners=frozenset({user.pk} if row.identity_id in owned else ()),
            holders=frozenset(persons),
        )
        answer = rules.may_decide(candidate, asked)
        row.can_decide = row.pk in deciding
        row.why_not = "" if row.can_decide else (answer.reason or calls.ERR_CALL_NOT_ROUTED)
    return rows


def latency_context(user) -> dict:
    ids = (
        None if has_role(user, *SEE_EVERYTHING) else list(Identity.objects.restrict(user).values_list("pk", flat=True))
    )
    return {"latency": call_latency(days=7, identity_ids=ids)}


@roles_required(CALL_READERS)
@require_http_methods(["GET"])
def call_list(request):
    pending = decorate(request, list(pending_calls(request.user)[:50]))
    recent = list(visible_calls(request.user).exclude(state=CallState.PENDING).order_by("-decided_at", "-pk")[:RECENT])
    context = {
        "pending": pending, "recent": recent, "can_configure": has_role(request.user, *SEE_EVERYTHING),
        **latency_context(request.user),
    }  # fmt: skip
    return render(request, "reviews/calls/list.html", context)


def _call_or_404(request, uuid) -> CallAuthorisation:
    return get_object_or_404(visible_calls(request.user), uuid=uuid)


@roles_required(CALL_READERS)
@require_http_methods(["GET"])
def call_detail(request, uuid):
    row = decorate(request, [_call_or_404(request, uuid)])[0]
    return render(request, "reviews/calls/detail.html", {"call": row, "form": CallDecisionForm()})


def _decide(request, uuid, service, verb: str):
    row = _call_or_404(request, uuid)
    form = CallDecisionForm(request.POST)
    status = 400
    if form.is_valid():
        ok, decided, status = call_service(
            form, service, call=row, actor=request.user, comment=form.cleaned_data["comment"], request=request
        )
        if ok:
            forget(request.user)
            messages.success(request, f"{decided.tool_key} {decided.action} for {decided.identity.name} {verb}.")
            if not request.htmx:
                return done(request, "reviews_calls:list")
            row, form = _call_or_404(request, uuid), CallDecisionForm()
    row = decorate(request, [row])[0]
    template = "reviews/calls/_card.html" if request.htmx else "reviews/calls/detail.html"
    return render(request, template, {"call": row, "form": form}, status=form_status(request, status))


@roles_required(CALL_DECIDERS)
@require_POST
def call_approve(request, uuid):
    return _decide(request, uuid, calls.call_approve, "approved: one matching call within 5 minutes")


@roles_required(CALL_DECIDERS)
@require_POST
def call_deny(request, uuid):
    return _decide(request, uuid, calls.call_deny, "denied")
