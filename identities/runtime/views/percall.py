"""Per-call re-authorisation settings (/runtime/per-call-approval/…): which identities or risk tiers must have
each write, admin or execute call approved. The see-everything roles read; administrators and security
analysts turn it on and off (never for an identity they own), through the runtime's services, audited."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from agentiam.adapters import call_service, confirm, form_status
from agentiam.permissions import has_role, roles_required
from agentiam.tables import Column
from identities.runtime import forms, services
from identities.runtime.models import PerCallMode
from identities.runtime.roles import CONFIG_READERS, PER_CALL_WRITERS
from identities.runtime.views.config import CREATED, STATE, Kind, _table

SLUG = "per-call-approval"


def _create(actor, data, request):
    return services.per_call_mode_create(actor=actor, request=request, **data)


KIND = Kind(
    SLUG, "Per-call approval", "per-call approval setting",
    "Identities, or whole risk tiers, whose every write, admin or execute call a manager approves first: decide "
    "answers deny with an access request, and an approval allows exactly one matching call within 5 minutes.",
    PerCallMode, forms.PerCallModeForm, _create,
    (Column("target", "Applies to", css="wide"), STATE, CREATED), ("identity",), ("identity__name",),
)  # fmt: skip


@roles_required(CONFIG_READERS)
@require_http_methods(["GET"])
def mode_list(request):
    queryset = PerCallMode.objects.select_related("identity", "created_by", "disabled_by")
    table = _table(KIND)(request, queryset)
    context = {"kind": KIND, "table": table, "can_manage": has_role(request.user, *PER_CALL_WRITERS)}
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "runtime/config_list.html#table" if partial else "runtime/config_list.html", context)


@roles_required(PER_CALL_WRITERS)
@require_http_methods(["GET", "POST"])
@never_cache
def mode_create(request):
    form = KIND.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, _row, _status = call_service(form, _create, actor=request.user, data=form.cleaned_data, request=request)
        if ok:
            messages.success(request, "Per-call re-authorisation is on.")
            return redirect(f"runtime:{SLUG}")
    return render(request, "runtime/config_form.html", {"kind": KIND, "form": form}, status=form_status(request))


@roles_required(PER_CALL_WRITERS)
@require_http_methods(["GET", "POST"])
def mode_disable(request, uuid):
    row = get_object_or_404(PerCallMode.objects.select_related("identity"), uuid=uuid)

    def disabled(_row):
        messages.success(request, f"Per-call re-authorisation for {row} is off.")
        return redirect(f"runtime:{SLUG}")

    return confirm(request, "runtime/config_disable.html", {"kind": KIND, "row": row}, form_class=forms.DisableForm,
                   service=services.config_disable, success=disabled, refusal_status=400, row=row,
                   actor=request.user)  # fmt: skip
