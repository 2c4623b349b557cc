"""Review campaigns in the browser (compliance officers define and launch; every reading role reads): the list,
the definition form (create, edit), a campaign's page with the preview before launch (items, reviewers,
flagged items, the heaviest reviewers) and its runs, launching, and a run's progress bar (htmx polls it while
the worker creates the items)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentiam.adapters import call_service, done, form_status
from agentiam.errors import Conflict, PermissionDenied, ValidationError
from agentiam.permissions import SEE_EVERYTHING, Role, has_role, roles_required
from agentiam.tables import Column, Table
from reviews import attest_reading
from reviews.api.campaign_filters import CampaignFilter
from reviews.api.campaigns import campaigns_read
from reviews.forms_campaigns import ALIASES, CampaignForm
from reviews.models import CampaignRun
from reviews.services import campaigns as services

WRITERS = frozenset({Role.COMPLIANCE_OFFICER})


class CampaignTable(Table):
    id = "campaigns"
    caption = "Review campaigns"
    columns = (
        Column("name", "Campaign", sort_field="name"),
        Column("scope", "Reviews", css="wide"),
        Column("cadence", "Cadence"),
        Column("last", "Latest run"),
        Column("created", "Defined", sort_field="created_at", descending_first=True, css="nowrap"),
    )
    default_sort = "name"
    filterset_class = CampaignFilter
    search_fields = ("name", "description")
    row_template = "reviews/campaigns/list.html#row"
    empty_title = "No review campaigns yet"
    empty_text = "A campaign asks owners to certify their identities' access, with usage evidence, by a deadline."


def campaign_or_404(uuid):
    return get_object_or_404(campaigns_read(), uuid=uuid)


@roles_required(SEE_EVERYTHING)
@require_GET
def campaign_list(request):
    table = CampaignTable(request, campaigns_read())
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reviews/campaigns/list.html#table" if partial else "reviews/campaigns/list.html"
    context = {"table": table, "may_define": has_role(request.user, Role.COMPLIANCE_OFFICER),
               "my_reviews": attest_reading.pending_count(request.user) if attest_reading.is_reviewer(request.user)
               else None}  # fmt: skip
    return render(request, template, context, status=200 if table.filters_valid else 400)


def _form_page(request, *, campaign=None):
    initial = CampaignForm.initial_for(campaign) if campaign else None
    form = CampaignForm(request.POST or None, initial=initial)
    status = None
    if request.method == "POST" and form.is_valid():
        if campaign is None:
            ok, made, status = call_service(form, services.campaign_create, aliases=ALIASES, actor=request.user,
                                            request=request, **form.service_kwargs())  # fmt: skip
        else:
            ok, made, status = call_service(form, services.campaign_update, aliases=ALIASES, campaign=campaign,
                                            actor=request.user, request=request, **form.service_kwargs())  # fmt: skip
        if ok:
            messages.success(request, "Saved. Check the preview, then launch.")
            return done(request, reverse("reviews:campaign", args=[made.uuid]))
    context = {"form": form, "campaign": campaign}
    return render(request, "reviews/campaigns/form.html", context, status=form_status(request, status))


@roles_required(WRITERS)
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    return _form_page(request)


@roles_required(WRITERS)
@require_http_methods(["GET", "POST"])
def campaign_edit(request, uuid):
    return _form_page(request, campaign=campaign_or_404(uuid))


def _heaviest(figures: dict) -> list[dict]:
    people = get_user_model().objects.in_bulk([reviewer for reviewer, _, _ in figures["heaviest"]])
    return [{"person": people.get(r), "items": n, "flagged": f} for r, n, f in figures["heaviest"]]


@roles_required(SEE_EVERYTHING)
@require_GET
def campaign_detail(request, uuid):
    """The definition, the preview of a launch now, and the runs (the one launching with its progress bar)."""
    campaign = campaign_or_404(uuid)
    figures = services.campaign_preview(campaign=campaign)
    runs = list(CampaignRun.objects.filter(campaign=campaign).select_related("launched_by").order_by("-number")[:20])
    context = {
        "campaign": campaign,
        "preview": figures,
        "heaviest": _heaviest(figures),
        "runs": runs,
        "may_define": has_role(request.user, Role.COMPLIANCE_OFFICER) and campaign.archived_at is None,
        "launching": any(run.state == "launching" for run in runs),
    }
    return render(request, "reviews/campaigns/detail.html", context)


@roles_required(WRITERS)
@require_POST
def campaign_launch(request, uuid):
    campaign = campaign_or_404(uuid)
    try:
        run = services.campaign_launch(campaign=campaign, actor=request.user, request=request)
    except (ValidationError, PermissionDenied, Conflict) as refusal:
        text = " ".join(refusal.messages) if isinstance(refusal, ValidationError) else str(refusal)
        messages.error(request, f"Not launched: {text}")
        return done(request, reverse("reviews:campaign", args=[campaign.uuid]))
    messages.success(request, f"Run {run.number} is launching: the items appear as the worker creates them.")
    return done(request, reverse("reviews:campaign", args=[campaign.uuid]) + f"#run-{run.uuid}")


@roles_required(SEE_EVERYTHING)
@require_GET
def run_progress(request, uuid):
    """The progress bar of one run (htmx polls it every two seconds while the run is launching)."""
    run = get_object_or_404(CampaignRun.objects.select_related("campaign"), uuid=uuid)
    return render(request, "reviews/campaigns/detail.html#progress", {"run": run})
