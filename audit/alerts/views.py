"""Alert pages: the list (filters severity, state, rule, identity), one alert with the events that raised it
and a link to its chain, triage forms for analysts, and the kill switch from the alert (confirm page)."""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentiam.adapters import call_service, confirm, done
from agentiam.permissions import roles_of, roles_required
from agentiam.tables import Column, Table
from audit.alerts import services
from audit.alerts.forms import FORMS, AlertFilter
from audit.alerts.selectors import READERS, TRIAGERS, alerts_visible_to, waiting_count
from identities.forms import ReasonForm
from identities.rules import SUSPENDERS, Right
from identities.views.registry.common import abilities
from identities.views.registry.lifecycle import suspension_summary

EVENT_REACH = timedelta(days=1)
DONE = {
    "assign": "Alert assigned.",
    "acknowledge": "Alert acknowledged.",
    "resolve": "Alert resolved.",
    "suppress": "Alert suppressed.",
}


class AlertTable(Table):
    id = "alerts"
    caption = "Alerts"
    columns = (
        Column("raised", "Raised", sort_field="raised_at", descending_first=True, css="nowrap"),
        Column("alert", "Alert", css="wide"),
        Column("identity", "Identity"),
        Column("state", "State"),
    )
    default_sort = "-raised"
    filterset_class = AlertFilter
    row_template = "audit_alerts/list.html#row"
    page_size = 50
    empty_title = "No alerts"
    empty_text = "The detectors raise alerts here when an identity's actions stray from its baseline or its access."
    filtered_empty_title = "No alert matches these filters"


def _alert_or_404(request, uuid):
    return get_object_or_404(alerts_visible_to(request.user).select_related("identity", "assignee"), uuid=uuid)


@roles_required(READERS)
@require_GET
def alert_list(request):
    table = AlertTable(request, alerts_visible_to(request.user).select_related("identity", "assignee"))
    partial = request.htmx and not request.htmx.history_restore_request
    template = "audit_alerts/list.html#table" if partial else "audit_alerts/list.html"
    context = {"table": table, "waiting": waiting_count(request.user)}
    return render(request, template, context, status=200 if table.filters_valid else 400)


def _detail(request, alert, forms=None, status=200):
    low, high = alert.first_event_at - EVENT_REACH, alert.last_event_at + EVENT_REACH
    events = apps.get_model(
        "audit_events", "ActionEvent"
    ).objects.filter(  # a sibling app: no import
        id__in=alert.event_ids[:200], started_at__gte=low, started_at__lte=high
    )
    refusal = services.may_triage(alert, request.user)
    can = abilities(request, alert.identity)
    forms = forms or {}
    refused = [error for form in forms.values() for error in form.non_field_errors()]
    context = {
        "alert": alert,
        "events": events.order_by("started_at", "id"),
        "triage_refusal": refusal if roles_of(request.user) & TRIAGERS else None,
        "may_triage": refusal is None and alert.state != "resolved",
        "may_suspend": alert.identity.status == "active" and can.may(Right.SUSPEND),
        "refused": refused,
        "forms": {name: forms.get(name) or form() for name, form in FORMS.items()},
    }
    return render(request, "audit_alerts/detail.html", context, status=status)


@roles_required(READERS)
@require_GET
def alert_detail(request, uuid):
    return _detail(request, _alert_or_404(request, uuid))


@roles_required(TRIAGERS)
@require_POST
def alert_triage(request, uuid, action):
    """One triage change (assign, acknowledge, resolve, suppress); a refusal comes back on the alert's page."""
    alert = _alert_or_404(request, uuid)
    if action not in FORMS:
        raise Http404
    form = FORMS[action](request.POST)
    status = 400
    if form.is_valid():
        service = getattr(services, f"alert_{action}")
        ok, _, status = call_service(form, service, alert=alert, actor=request.user, request=request,
                                     **form.cleaned_data)  # fmt: skip
        if ok:
            messages.success(request, DONE[action])
            return redirect("alerts:detail", uuid=alert.uuid)
    return _detail(request, alert, {action: form}, status=status)


@roles_required(SUSPENDERS)
@require_http_methods(["GET", "POST"])
def alert_suspend_identity(request, uuid):
    """The kill switch from the alert: the registry's confirmation (a reason), then its suspension."""
    alert = _alert_or_404(request, uuid)

    def suspended(counts):
        messages.warning(request, suspension_summary(alert.identity.name, counts))
        return done(request, f"/alerts/{alert.uuid}/")

    context = {"alert": alert, "identity": alert.identity}
    return confirm(request, "audit_alerts/suspend.html", context, form_class=ReasonForm,
                   service=services.alert_suspend_identity, success=suspended, alert=alert,
                   actor=request.user)  # fmt: skip
