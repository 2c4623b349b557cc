"""The audit page: the trail's entries with filters and keyset pagination, and one entry with its hashes."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from agentiam.permissions import SEE_EVERYTHING, roles_required
from agentiam.tables import Column, Table
from audit.filters import AuditEntryFilter
from audit.models import AuditEntry
from audit.trail import GENESIS, entry_fields, entry_hash

LATEST_ON_DASHBOARD = 5
# The 24-hour count stops here ("10,000+"): a bounded count stays cheap however busy the trail is.
COUNT_CAP = 10_000


class AuditTable(Table):
    id = "audit-table"
    caption = "Audit trail entries"
    columns = (
        Column("time", "Time", sort_field="occurred_at", descending_first=True, css="nowrap"),
        Column("actor", "Actor"),
        Column("action", "Action", sort_field="action"),
        Column("object", "Object", css="wide"),
        Column("entry", "Entry", css="nowrap"),
    )
    default_sort = "-time"
    filterset_class = AuditEntryFilter
    search_fields = ("object_label", "actor_label", "action")
    search_placeholder = "Actor, action or object name"
    row_template = "audit/entry_list.html#row"
    empty_title = "The audit trail is empty"
    empty_text = "Every change a person or a client makes will be recorded here."


@roles_required(SEE_EVERYTHING)
@require_GET
def entry_list(request):
    table = AuditTable(request, AuditEntry.objects.all())
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "audit/entry_list.html#table" if partial else "audit/entry_list.html", {"table": table})


@roles_required(SEE_EVERYTHING)
@require_GET
def entry_detail(request, uuid):
    entry = get_object_or_404(AuditEntry, uuid=uuid)
    # The chain runs in id order: the neighbours by id are the entries this one links to and from.
    previous = AuditEntry.objects.filter(pk__lt=entry.pk).order_by("-pk").only("uuid", "hash", "action").first()
    following = AuditEntry.objects.filter(pk__gt=entry.pk).order_by("pk").only("uuid", "action").first()
    context = {
        "entry": entry,
        "previous": previous,
        "following": following,
        "hash_ok": entry_hash(entry.prev_hash, entry_fields(entry)) == entry.hash,
        "link_ok": entry.prev_hash == (previous.hash if previous else GENESIS),
    }
    return render(request, "audit/entry_detail.html", context)


def dashboard_panel(request) -> dict:
    since = timezone.now() - timedelta(hours=24)
    last_day = AuditEntry.objects.filter(occurred_at__gte=since).order_by()[: COUNT_CAP + 1].count()
    return {
        "last_day": min(last_day, COUNT_CAP),
        "last_day_capped": last_day > COUNT_CAP,
        "latest": list(AuditEntry.objects.order_by("-pk")[:LATEST_ON_DASHBOARD]),
    }
