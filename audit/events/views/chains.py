"""Chain pages. The list: recent chains (each headed by its root step — the span with no parent, usually the
agent's `invoke_agent`) that the reader may see, filtered by who started it, workflow, outcome and whether it
widened, with each chain's steps, errors, agents, denied calls and widening alert read for the page at once.
One chain: every step of one trace the reader may see, as a tree, with each step's agent, tool, action,
decision (joined from the decision log, and the trace's gateway decisions that no exported step claims drawn
as steps of their own), outcome and timing; denied steps, errors and quarantined steps stand out.
Server-rendered, no script."""

from __future__ import annotations

from django.core import signing
from django.http import Http404
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_required
from agentiam.tables import Column, Table
from audit.events.forms import ChainFilter
from audit.events.reading import load_chain, summarise, valid_trace_id
from audit.events.render import steps_html
from audit.events.selectors import events_visible_to


class ChainTable(Table):
    id = "chains"
    caption = "Action chains"
    columns = (
        Column("started", "Started", sort_field="started_at", descending_first=True, css="nowrap"),
        Column("chain", "Chain", css="wide"),
        Column("identity", "Started by"),
        Column("outcome", "Outcome"),
    )
    default_sort = "-started"
    filterset_class = ChainFilter
    row_template = "audit_events/chain_list.html#row"
    page_size = 50
    empty_title = "No chains yet"
    empty_text = "Chains appear here once agents' traces arrive through POST /v1/traces or POST /api/v1/events."
    filtered_empty_title = "No chain matches these filters"


@roles_required(ALL_ROLES)
@require_GET
def chain_list(request):
    heads = events_visible_to(request.user).filter(parent_span_id="").select_related("identity")
    table = ChainTable(request, heads)
    summarise(request.user, table.rows)
    partial = request.htmx and not request.htmx.history_restore_request
    template = "audit_events/chain_list.html#table" if partial else "audit_events/chain_list.html"
    return render(request, template, {"table": table}, status=200 if table.filters_valid else 400)


_SALT = "audit.events.chain.after"
FOLD_FROM = 200  # a chain of more steps than this opens folded below FOLD_BELOW levels (<details>, no script)
FOLD_BELOW = 2


def _after(raw: str | None):
    """The signed (started_at, id) a chain page continues after; None (the first page) when absent or tampered."""
    if not raw:
        return None
    try:
        at, pk = signing.loads(raw, salt=_SALT)
        parsed = parse_datetime(at)
        return (parsed, int(pk)) if parsed is not None else None
    except (signing.BadSignature, ValueError, TypeError):
        return None


@roles_required(ALL_ROLES)
@require_GET
def chain(request, trace_id: str):
    if not valid_trace_id(trace_id):
        raise Http404
    found = load_chain(request.user, trace_id, after=_after(request.GET.get("after")))
    if found is None:
        raise Http404
    fold_below = FOLD_BELOW if len(found.steps) > FOLD_FROM else None
    following = (
        signing.dumps([found.next_after[0].isoformat(), found.next_after[1]], salt=_SALT) if found.next_after else None
    )
    context = {
        "next_page": following,
        "later_page": found.after is not None,
        "alerts": found.alerts,
        "fold_below": fold_below,
        "steps_html": steps_html(found.nodes, fold_below),
        "trace_id": trace_id,
        "nodes": found.nodes,
        "count": len(found.steps),
        "capped": found.capped,
        "depth": found.depth,
        "fan_out": found.fan_out,
        "agents": found.agents,
        "denied": found.denied,
        "errors": found.errors,
        "quarantined": found.quarantined,
        "gateway": sum(1 for s in found.steps if s.kind == "decision"),
        "started_at": found.started_at,
    }
    return render(request, "audit_events/chain.html", context)
