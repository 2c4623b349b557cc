"""The decision log (every `decide` answer, newest first), one decision with what was evaluated, and the
reasons a decision may cite with their explanations."""

from __future__ import annotations

import json

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_of, roles_required
from agentiam.tables import Column, Table
from identities.models import Identity
from identities.rules import sees_every_identity
from identities.runtime.decision_ids import decided_at_bounds
from identities.runtime.filters import DecisionFilter
from identities.runtime.models import PolicyDecision, PolicyStatus, PolicyVersion
from identities.runtime.policy import SYSTEM_REASONS
from identities.runtime.reasons import RUNTIME_REASONS, all_explanations

DECISION_READERS = ALL_ROLES  # owners and managers see the decisions about identities they may see


def decisions_visible_to(user) -> QuerySet[PolicyDecision]:
    queryset = PolicyDecision.objects.select_related("identity", "gateway")
    if sees_every_identity(roles_of(user)):
        return queryset
    return queryset.filter(identity__in=Identity.objects.restrict(user).values("pk"))


class DecisionTable(Table):
    id = "decision-table"
    caption = "Policy decisions"
    columns = (
        Column("time", "Time", sort_field="decided_at", descending_first=True, css="nowrap"),
        Column("decision", "Decision"),
        Column("call", "Call", css="wide"),
        Column("identity", "Identity"),
        Column("gateway", "Gateway"),
        Column("reasons", "Reasons"),
        Column("latency", "Latency", css="num nowrap"),
    )
    default_sort = "-time"
    filterset_class = DecisionFilter
    row_template = "runtime/decision_list.html#row"
    empty_title = "No decisions yet"
    empty_text = "Every answer a gateway gets from /api/v1/runtime/decide is recorded here."


@roles_required(DECISION_READERS)
@require_GET
def decision_list(request):
    table = DecisionTable(request, decisions_visible_to(request.user))
    identity = None
    value = table.filterset.form.cleaned_data.get("identity") if table.filters_valid else None
    if value:
        identity = Identity.objects.restrict(request.user).filter(uuid=value).first()
    context = {"table": table, "identity": identity}
    partial = request.htmx and not request.htmx.history_restore_request
    return render(request, "runtime/decision_list.html#table" if partial else "runtime/decision_list.html", context)


@roles_required(DECISION_READERS)
@require_GET
def decision_detail(request, uuid):
    bounds = decided_at_bounds(uuid)
    queryset = decisions_visible_to(request.user).select_related("task", "policy_version")
    if bounds is not None:  # the id's own time picks the partition
        queryset = queryset.filter(decided_at__gte=bounds[0], decided_at__lt=bounds[1])
    decision = queryset.filter(uuid=uuid).first()
    if decision is None:
        raise Http404
    version = decision.policy_version
    explained = all_explanations(version.policy_text if version else None)
    context = {
        "decision": decision,
        "reasons": [(reason, explained.get(reason, "")) for reason in decision.reasons],
        "evaluated": json.dumps(decision.evaluated, indent=2, sort_keys=True) if decision.evaluated else "",
        "resource": json.dumps(decision.resource, indent=2, sort_keys=True),
    }
    return render(request, "runtime/decision_detail.html", context)


@roles_required(DECISION_READERS)
@require_GET
def reasons_page(request):
    active = PolicyVersion.objects.filter(status=PolicyStatus.ACTIVE).first()
    rules = all_explanations(active.policy_text) if active else {}
    context = {
        "version": active,
        "rules": [
            (rule, text) for rule, text in rules.items() if rule not in RUNTIME_REASONS and rule not in SYSTEM_REASONS
        ],
        "runtime": sorted(RUNTIME_REASONS.items()),
        "system": sorted(SYSTEM_REASONS.items()),
    }
    return render(request, "runtime/reasons.html", context)
