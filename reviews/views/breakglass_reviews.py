"""The after-the-fact reviews of break-glass, as a list: every record the person may see (open, overdue,
closed; filtered, keyset-paginated), for those who close reviews and for auditors, read-only. Closing one
from its row takes a note and a confirmation; htmx swaps the row (and the open count), without JavaScript
the list comes back. Who may close which is `reviews.services.breakglass.may_close`, set-wise
(`reviews_to_close`), so a row offers the form only to someone the service lets close it."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agentiam.adapters import call_service
from agentiam.permissions import roles_required
from agentiam.tables import Column, Table
from reviews.filters import BreakGlassFilter
from reviews.services.breakglass import (
    CLOSERS,
    REVIEW_READERS,
    break_glass_close,
    may_close,
    overdue,
    reviews_to_close,
    reviews_visible_to,
)
from reviews.views.breakglass import CloseForm

__all__ = ["break_glass_list", "break_glass_list_close", "open_count"]


class BreakGlassTable(Table):
    id = "break-glass-reviews"
    caption = "Break-glass reviews"
    columns = (
        Column("started", "Started", sort_field="started_at", descending_first=True, css="nowrap"),
        Column("identity", "Identity"),
        Column("scopes", "Access", css="wide"),
        Column("person", "Broken by"),
        Column("review", "Review", css="wide"),
    )
    default_sort = "-started"
    filterset_class = BreakGlassFilter
    row_template = "reviews/breakglass/list.html#row"
    empty_title = "No break-glass yet"
    empty_text = "When an owner gives themself emergency access, its after-the-fact review appears here."
    filtered_empty_title = "No break-glass matches these filters"


def _queryset(user):
    return reviews_visible_to(user).select_related("identity", "person", "closed_by", "task", "grant")


def decorate(rows, user) -> list:
    """Each row with whether it is overdue and whether this person may close it (one query for all rows)."""
    closable = set(reviews_to_close(user).filter(pk__in=[row.pk for row in rows]).values_list("pk", flat=True))
    now = timezone.now()
    for row in rows:
        row.is_overdue = overdue(row, now)
        row.can_close = row.pk in closable
        row.close_form = CloseForm(auto_id=_auto_id(row)) if row.can_close else None
    return rows


def _auto_id(row) -> str:
    return f"bg-{row.uuid.hex[:12]}-%s"  # one form per row: ids of their own, the same field names as the page's


def open_count(user) -> int:
    return reviews_to_close(user).count()


@roles_required(REVIEW_READERS)
@require_GET
def break_glass_list(request):
    """Managers (identities their reports own), security analysts, compliance officers, administrators and
    auditors (everything, read-only for auditors)."""
    table = BreakGlassTable(request, _queryset(request.user))
    decorate(table.rows, request.user)
    context = {"table": table, "to_close": open_count(request.user)}
    partial = request.htmx and not request.htmx.history_restore_request
    template = "reviews/breakglass/list.html#table" if partial else "reviews/breakglass/list.html"
    return render(request, template, context, status=200 if table.filters_valid else 400)


@roles_required(CLOSERS)
@require_POST
def break_glass_list_close(request, uuid):
    """Close one review from its row. A record the person may not see is a 404; one they see but may not close
    a 403 with the reason (the service's), and nothing is written."""
    row = get_object_or_404(_queryset(request.user), uuid=uuid)
    form = CloseForm(request.POST, auto_id=_auto_id(row))
    ok, status = False, 400
    if form.is_valid():
        ok, _, status = call_service(form, break_glass_close, break_glass=row, actor=request.user,
                                     note=form.cleaned_data["note"], request=request)  # fmt: skip
    elif refusal := may_close(row, request.user):
        form.add_error(None, refusal)
        status = 403
    if ok:
        messages.success(request, f"Break-glass review of {row.identity.name} closed.")
        if not request.htmx:
            return redirect(reverse("reviews:break-glass-list"))
        row = get_object_or_404(_queryset(request.user), uuid=uuid)
    if not request.htmx:  # the record's own page, with the refusal in its form (which posts the same field)
        return render(request, "reviews/breakglass/detail.html",
                      {"row": row, "form": form, "refusal": may_close(row, request.user), "overdue": overdue(row)},
                      status=status)  # fmt: skip
    [row] = decorate([row], request.user)
    if not ok:
        row.close_form = form
    context = {"row": row, "oob": True, "to_close": open_count(request.user)}
    return render(request, "reviews/breakglass/list.html#row", context, status=200 if ok else status)
