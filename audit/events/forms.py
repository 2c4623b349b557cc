"""The chain list's filters: who started the chain, the workflow it ran under, its outcome and whether it widened."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.apps import apps
from django.db.models import Exists, OuterRef, Q

from audit.events.models import ActionEvent
from audit.events.selectors import decisions_visible_to, events_visible_to
from identities.models import Task, Workflow

# A trace's steps and decisions are looked for from an hour before its root's start to a day after it: the
# event table and the decision log are partitioned by day, so a probe reads one or two partitions.
BEFORE = timedelta(hours=1)
AFTER = timedelta(days=1)
WIDENING = "privilege_widening"  # audit.alerts' rule (read by name: the apps import no sibling)

OUTCOMES = [("error", "With errors"), ("ok", "Without errors"), ("denied", "With denied calls")]
WIDENED = [("yes", "Widened"), ("no", "Not widened")]


def widening_alerts():
    return apps.get_model("audit_alerts", "Alert").objects.filter(rule=WIDENING)


class ChainFilter(django_filters.FilterSet):
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Started by (identity id)")
    workflow = django_filters.ModelChoiceFilter(
        queryset=Workflow.objects.order_by("name"), to_field_name="uuid", method="by_workflow",
        empty_label="Any workflow", label="Workflow",
    )  # fmt: skip
    outcome = django_filters.ChoiceFilter(
        choices=OUTCOMES, method="by_outcome", empty_label="Any outcome", label="Outcome"
    )
    widened = django_filters.ChoiceFilter(
        choices=WIDENED, method="by_widened", empty_label="Widened or not", label="Widened"
    )

    class Meta:
        model = ActionEvent
        fields = ["identity", "workflow", "outcome", "widened"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, request=request, **kwargs)
        self.user = request.user if request is not None else None

    def by_workflow(self, queryset, name, workflow):
        """Under the workflow: the root step's task is the workflow's, or it had no task and its identity serves
        the workflow (an identity shared by several workflows then shows under each: the fan-out it is flagged for)."""
        tasks = Task.objects.filter(workflow=workflow).values("pk")
        return queryset.filter(
            Q(task_id__in=tasks) | Q(task_id__isnull=True, identity_id__in=workflow.identities.values("pk"))
        )

    def _in_trace(self, model_rows, time_field: str):
        return model_rows.filter(
            trace_id=OuterRef("trace_id"),
            **{
                f"{time_field}__gte": OuterRef("started_at") - BEFORE,
                f"{time_field}__lte": OuterRef("started_at") + AFTER,
            },
        )

    def by_outcome(self, queryset, name, value):
        if value == "denied":
            return queryset.filter(Exists(self._in_trace(decisions_visible_to(self.user).filter(decision="deny"),
                                                         "decided_at")))  # fmt: skip
        errors = Exists(self._in_trace(events_visible_to(self.user).filter(outcome="error"), "started_at"))
        return queryset.filter(errors if value == "error" else ~errors)

    def by_widened(self, queryset, name, value):
        widened = Q(trace_id__in=widening_alerts().values("trace_id"))
        return queryset.filter(widened if value == "yes" else ~widened)
