"""The chain page: every step of one trace the reader may see, as a tree, with each step's agent, tool, action,
decision (joined from the decision log, and the trace's gateway decisions that no exported step claims drawn
as steps of their own), outcome and timing; denied steps, errors and quarantined steps stand out.
Server-rendered nested lists, no script."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_required
from audit.events.reading import load_chain, valid_trace_id


@roles_required(ALL_ROLES)
@require_GET
def chain(request, trace_id: str):
    if not valid_trace_id(trace_id):
        raise Http404
    found = load_chain(request.user, trace_id)
    if found is None:
        raise Http404
    context = {
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
