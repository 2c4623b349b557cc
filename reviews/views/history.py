"""Elevation history: every request the person may see, newest first, filterable and paginated (keyset)."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_required
from agentiam.tables import Column, Table
from reviews.filters import HistoryFilter
from reviews.inbox_queries import requests_visible_to
from reviews.views.reading import with_people


class HistoryTable(Table):
    id = "elevation-history"
    caption = "Elevation requests"
    columns = (
        Column("asked", "Asked", sort_field="created_at", descending_first=True, css="nowrap"),
        Column("identity", "Identity"),
        Column("scopes", "Access asked", css="wide"),
        Column("requester", "Requested by"),
        Column("state", "Outcome"),
        Column("decided", "Decided", css="nowrap"),
    )
    default_sort = "-asked"
    filterset_class = HistoryFilter
    row_template = "reviews/history.html#row"
    empty_title = "No elevation requests yet"
    empty_text = "Requests for just-in-time access appear here with how they ended."


@roles_required(ALL_ROLES)
@require_GET
def history(request):
    """Managers, owners (their identities' requests) and every reading role; `requests_visible_to` decides."""
    table = HistoryTable(request, with_people(requests_visible_to(request.user)))
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reviews/history.html#table" if partial else "reviews/history.html"
    return render(request, template, {"table": table}, status=200 if table.filters_valid else 400)
