"""The workflow page (issue 12 item 5): everything done under one workflow — the identities that serve it (one
that serves several workflows flagged: its actions without a task cannot be told apart), its tasks, the chains
run under it, the gateway's decisions for its tasks, the JIT grants and the access tokens issued for them — so
the actions of an identity shared by several workflows stay separable by task.

Who sees what: the roles that see everything, all of it; owners and managers the workflow when it has an
identity they may view, and only those identities' tasks, chains, decisions, grants and tokens (otherwise 404).
In the events app because it reads the registry, the runtime and the events (apps above `audit` read every app)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from agentiam.permissions import ALL_ROLES, roles_required
from audit.events.reading import summarise
from audit.events.selectors import decisions_visible_to, events_visible_to
from identities.models import Grant, Identity, Task, Workflow
from identities.runtime.models import IssuedToken

SHOWN = 20  # of each kind, newest first
RECENT = timedelta(days=30)  # decisions and chains: the last month's (both tables are partitioned by day)


@roles_required(ALL_ROLES)
@require_GET
def workflow_detail(request, uuid):
    workflow = get_object_or_404(Workflow, uuid=uuid)
    visible = Identity.objects.restrict(request.user)
    serving = Workflow.identities.through.objects.filter(identity_id=OuterRef("pk"))
    counted = serving.values("identity_id").annotate(n=Count("workflow_id")).values("n")
    identities = list(
        visible.filter(workflows=workflow).annotate(workflow_count=Subquery(counted)).order_by("name")
    )  # fmt: skip
    if not identities:
        raise Http404
    ids = [identity.pk for identity in identities]
    tasks = Task.objects.filter(workflow=workflow, identity_id__in=ids)
    since = timezone.now() - RECENT
    chains = list(
        events_visible_to(request.user)
        .filter(parent_span_id="", identity_id__in=ids, started_at__gte=since)
        .filter(Q(task_id__in=tasks.values("pk")) | Q(task_id__isnull=True))
        .select_related("identity", "task")
        .order_by("-started_at", "-id")[:SHOWN]
    )
    summarise(request.user, chains)
    decisions = list(
        decisions_visible_to(request.user)
        .filter(identity_id__in=ids, task_id__in=tasks.values("pk"), decided_at__gte=since)
        .only("uuid", "decided_at", "identity_id", "task_id", "tool_key", "action", "decision", "reasons", "trace_id")
        .order_by("-decided_at", "-id")[:SHOWN]
    )
    grants = list(
        Grant.objects.filter(task__in=tasks).select_related("identity", "task").order_by("-created_at")[:SHOWN]
    )
    tokens = list(
        IssuedToken.objects.filter(task__in=tasks)
        .select_related("identity", "task")
        .only("jti", "identity__name", "identity__uuid", "task__name", "scopes", "issued_at", "expires_at")
        .order_by("-issued_at")[:SHOWN]
    )
    by_pk = {identity.pk: identity for identity in identities}
    task_list = list(tasks.select_related("identity").order_by("-created_at")[:SHOWN])
    names = dict(Task.objects.filter(pk__in={d.task_id for d in decisions}).values_list("pk", "name"))
    for decision in decisions:
        decision.identity_row = by_pk.get(decision.identity_id)
        decision.task_name = names.get(decision.task_id, "")
    shared = [identity for identity in identities if identity.workflow_count > 1]
    context = {
        "workflow": workflow,
        "identities": identities,
        "shared": shared,
        "fan_out_threshold": settings.ALERTS_WORKFLOWS,
        "tasks": task_list,
        "chains": chains,
        "decisions": decisions,
        "grants": grants,
        "tokens": tokens,
        "shown": SHOWN,
        "now": timezone.now(),
    }
    return render(request, "audit_events/workflow.html", context)
