"""Break-glass pages: start it (an owner of the identity, stepped up in the browser), and its after-the-fact
review (seen by the identity's viewers who may close reviews or see everything; closed by someone neither the
person nor an owner). The identity page links here through its `identity_detail` slot."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from agentiam import slots
from agentiam.adapters import call_service, done, form_status
from agentiam.permissions import SEE_EVERYTHING, Role, roles_of, roles_required
from agentiam.stepup import is_stepped_up, step_up_response
from identities.models import Identity
from identities.services import is_current_owner
from reviews.models import BreakGlass
from reviews.services.breakglass import CLOSERS, break_glass_close, break_glass_start, may_close, overdue

__all__ = ["break_glass_detail", "break_glass_start_page"]

STARTERS = frozenset({Role.IDENTITY_OWNER})
READERS = SEE_EVERYTHING | CLOSERS | STARTERS


class StartForm(forms.Form):
    scopes = forms.CharField(max_length=2000, help_text="tool_key:action, separated by commas or spaces")
    task = forms.CharField(max_length=200, help_text="The task the access is bound to (opened if new)")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    duration_minutes = forms.IntegerField(min_value=1, max_value=60, initial=60)

    def scope_list(self) -> list[str]:
        return [part for part in self.cleaned_data["scopes"].replace(",", " ").split() if part]


class CloseForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, label="What you found")


@roles_required(STARTERS)
@require_http_methods(["GET", "POST"])
@never_cache
def break_glass_start_page(request, uuid):
    identity = get_object_or_404(Identity.objects.restrict(request.user, "view"), uuid=uuid)
    if not is_stepped_up(request):  # after the lookup, so another owner's identity is a 404, not a prompt
        return step_up_response(request)
    form = StartForm(request.POST or None)
    status = None
    if request.method == "POST" and form.is_valid():
        ok, row, status = call_service(
            form, break_glass_start, aliases={"duration_seconds": "duration_minutes"}, identity=identity,
            actor=request.user, scopes=form.scope_list(), task=form.cleaned_data["task"],
            reason=form.cleaned_data["reason"], duration_seconds=form.cleaned_data["duration_minutes"] * 60,
            request=request,
        )  # fmt: skip
        if ok:
            messages.success(request, f"Break-glass access granted until {row.ends_at:%H:%M} UTC; approvers and "
                             "security analysts were told.")  # fmt: skip
            return done(request, reverse("reviews:break-glass", args=[row.uuid]))
    context = {"identity": identity, "form": form, "owner": is_current_owner(identity, request.user)}
    return render(request, "reviews/breakglass/start.html", context, status=form_status(request, status))


@roles_required(READERS)
@require_http_methods(["GET", "POST"])
@never_cache
def break_glass_detail(request, uuid):
    visible = BreakGlass.objects.filter(identity__in=Identity.objects.restrict(request.user, "view"))
    row = get_object_or_404(visible.select_related("identity", "person", "closed_by", "grant", "task"), uuid=uuid)
    refusal = may_close(row, request.user)
    form = CloseForm(request.POST or None)
    status = None
    if request.method == "POST" and form.is_valid():
        ok, _, status = call_service(form, break_glass_close, break_glass=row, actor=request.user,
                                     note=form.cleaned_data["note"], request=request)  # fmt: skip
        if ok:
            messages.success(request, "Break-glass review closed.")
            return done(request, reverse("reviews:break-glass", args=[row.uuid]))
    context = {"row": row, "form": form, "refusal": refusal, "overdue": overdue(row)}
    return render(request, "reviews/breakglass/detail.html", context, status=form_status(request, status))


def _slot_context(request, identity) -> dict | None:
    """The identity page's break-glass panel: the start link for its owners, and its recent break-glasses."""
    owner = is_current_owner(identity, request.user)
    recent = list(BreakGlass.objects.filter(identity=identity).select_related("person")[:5])
    if not owner and not recent:
        return None
    if not owner and not roles_of(request.user) & READERS:
        return None
    return {"identity": identity, "owner": owner, "recent": [(row, overdue(row)) for row in recent]}


slots.register(slots.Slot("identity_detail", "break_glass", "reviews/breakglass/slot.html", _slot_context, order=40))


break_glass_start_page.step_up_required = True  # as agentiam.stepup's decorator marks its views
