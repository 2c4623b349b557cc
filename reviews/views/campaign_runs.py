"""A campaign run's dashboard, its sign-off and its frozen report.

- The dashboard (`reviews.campaign_figures`, a fixed number of queries): progress per reviewer, overdue, the
  burn-down chart (server-rendered SVG), revoke rate, items by recommendation and by decision, bulk share,
  median time per decision, fulfilment with its failures (a compliance officer retries them), and the evidence
  of completeness the launch recorded. The roles that see everything read it.
- The sign-off: a compliance officer, stepped up (after the run is found, so an unknown run is a 404), confirms;
  `reviews.services.signoff` closes the run and freezes the report.
- The report, once frozen: a printable page, CSV and JSON downloads (`Content-Disposition: attachment`, so the
  request guard marks them no-store) — all rendered from the frozen document."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentiam.adapters import confirm, done
from agentiam.permissions import SEE_EVERYTHING, Role, roles_of, roles_required
from agentiam.stepup import is_stepped_up, step_up_response
from reviews.campaign_figures import figures
from reviews.campaign_report import report_csv, report_json
from reviews.models import CampaignRun
from reviews.models_campaigns import RunState
from reviews.services.fulfilment import fulfilment_retry
from reviews.services.signoff import MAX_NOTE, campaign_run_sign_off

__all__ = ["run_dashboard", "run_report", "run_report_csv", "run_report_json", "run_retry", "run_sign_off"]

READERS = SEE_EVERYTHING
SIGNERS = frozenset({Role.COMPLIANCE_OFFICER})
ERR_NO_REPORT = "This campaign has not been signed off: its report is frozen at sign-off."


class SignOffForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_NOTE,
        required=False,
        label="Note for the record",
        help_text="Optional: what the report should say about this campaign.",
    )


class RetryForm(forms.Form):
    """No fields: the button is the whole form (bound even when the POST carries nothing but the CSRF token)."""

    def __init__(self, data=None, **kwargs):
        super().__init__(data if data is not None else {}, **kwargs)


def _run(uuid) -> CampaignRun:
    runs = CampaignRun.objects.select_related("campaign", "launched_by", "signed_off_by")
    return get_object_or_404(runs, uuid=uuid)


def _signed(uuid) -> CampaignRun:
    run = _run(uuid)
    if run.state != RunState.CLOSED or not run.report:
        raise Http404(ERR_NO_REPORT)
    return run


@roles_required(READERS)
@require_GET
@never_cache
def run_dashboard(request, uuid):
    run = _run(uuid)
    shown = figures(run)
    officer = Role.COMPLIANCE_OFFICER in roles_of(request.user)
    context = {
        "run": run,
        "figures": shown,
        "chart": shown.chart,
        "can_sign": officer and run.state == RunState.OPEN,
        "can_retry": officer and run.state == RunState.OPEN and shown.totals["ful_failed"] > 0,
        "closed": run.state == RunState.CLOSED,
    }
    return render(request, "reviews/campaigns/dashboard.html", context)


@roles_required(SIGNERS)
@require_http_methods(["GET", "POST"])
@never_cache
def run_sign_off(request, uuid):
    run = _run(uuid)
    if not is_stepped_up(request):  # after the lookup: an unknown run is a 404, not a prompt
        return step_up_response(request)
    dashboard = reverse("reviews:run_dashboard", args=[run.uuid])

    def signed(result):
        messages.success(request, f"{run.campaign.name} #{run.number} is signed off; its report is frozen.")
        return done(request, dashboard)

    context = {"run": run, "figures": figures(run), "dashboard": dashboard}
    return confirm(request, "reviews/campaigns/sign_off.html", context, form_class=SignOffForm,
                   service=campaign_run_sign_off, success=signed, run=run, actor=request.user)  # fmt: skip


@roles_required(SIGNERS)
@require_POST
def run_retry(request, uuid):
    run = _run(uuid)
    dashboard = reverse("reviews:run_dashboard", args=[run.uuid])

    def retried(count):
        messages.success(request, f"{count} fulfilment(s) will be tried again.")
        return done(request, dashboard)

    context = {"run": run, "figures": figures(run), "chart": None, "closed": run.state == RunState.CLOSED}
    return confirm(request, "reviews/campaigns/dashboard.html", context, form_class=RetryForm,
                   service=fulfilment_retry, success=retried, run=run, actor=request.user)  # fmt: skip


@roles_required(READERS)
@require_GET
@never_cache
def run_report(request, uuid):
    run = _signed(uuid)
    return render(request, "reviews/campaigns/report.html", {"run": run, "report": run.report})


def _download(run: CampaignRun, body: str, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    name = f"campaign-{run.campaign.uuid}-run-{run.number}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-AgentIAM-Report-Digest"] = run.report_digest
    return response


@roles_required(READERS)
@require_GET
def run_report_csv(request, uuid):
    run = _signed(uuid)
    return _download(run, report_csv(run.report), "text/csv; charset=utf-8", "csv")


@roles_required(READERS)
@require_GET
def run_report_json(request, uuid):
    run = _signed(uuid)
    return _download(run, report_json(run.report, run.report_digest), "application/json", "json")


run_sign_off.step_up_required = True  # as agentiam.stepup's decorator marks its views
