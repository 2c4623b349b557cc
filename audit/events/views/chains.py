"""The chain page: every step of one trace the reader may see, as a tree, with each step's agent, tool, action,
decision (joined from the decision log), outcome and timing; denied steps, errors and quarantined steps stand
out. Server-rendered nested lists, no script."""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_required
from audit.events.chains import MAX_STEPS, tree
from audit.events.selectors import events_visible_to
from identities.models import Identity
from identities.runtime.models import PolicyDecision

_TRACE = re.compile(r"^[0-9a-f]{32}$")


@roles_required(ALL_ROLES)
@require_GET
def chain(request, trace_id: str):
    if not _TRACE.match(trace_id):
        raise Http404
    steps = list(events_visible_to(request.user).filter(trace_id=trace_id).order_by("started_at", "id")[:MAX_STEPS])
    if not steps:
        raise Http404
    known = Identity.objects.filter(pk__in={s.identity_id for s in steps if s.identity_id})
    rows = {pk: (public, name) for pk, public, name in known.values_list("pk", "uuid", "name")}
    decisions = {
        d.uuid: d
        for d in PolicyDecision.objects.filter(uuid__in={s.decision_id for s in steps if s.decision_id}).only(
            "uuid", "decision", "reasons"
        )
    }
    for step in steps:
        step.identity_uuid, step.identity_name = rows.get(step.identity_id, (None, ""))
        step.decision = decisions.get(step.decision_id)
        step.duration_ms = (step.ended_at - step.started_at).total_seconds() * 1000 if step.ended_at else None
    nodes, depth, fan_out = tree(steps)
    context = {
        "trace_id": trace_id,
        "nodes": nodes,
        "count": len(steps),
        "capped": len(steps) == MAX_STEPS,
        "depth": depth,
        "fan_out": fan_out,
        "agents": sorted({s.identity_name for s in steps if s.identity_name}),
        "denied": sum(1 for s in steps if s.decision and s.decision.decision == "deny"),
        "errors": sum(1 for s in steps if s.outcome == "error"),
        "quarantined": sum(1 for s in steps if s.quarantine),
        "started_at": steps[0].started_at,
    }
    return render(request, "audit_events/chain.html", context)
