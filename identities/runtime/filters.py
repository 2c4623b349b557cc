"""Filters of the decision log. Each is an equality or prefix on a column of the partitioned table, or a
range on decided_at (the partition key), so PostgreSQL reads only the days asked for."""

from __future__ import annotations

import django_filters

from agentiam.filtering import text_filter
from audit.filters import DATETIME_WIDGET, AuditFilterForm
from identities.runtime.models import Gateway, PolicyDecision, Verdict


class DecisionFilter(django_filters.FilterSet):
    identity = text_filter(
        "identity__uuid",
        "Identity id",
        "The identity's id (the link on an identity's page fills it in).",
        "identity UUID",
        filter_class=django_filters.UUIDFilter,
    )
    gateway = django_filters.ModelChoiceFilter(
        queryset=Gateway.objects.order_by("name"), to_field_name="uuid", label="Gateway", empty_label="Any gateway"
    )
    decision = django_filters.ChoiceFilter(choices=Verdict.choices, label="Decision", empty_label="Allow or deny")
    tool = text_filter(
        "tool_key",
        "Tool",
        'A tool key or its prefix: "github." matches every GitHub tool.',
        "e.g. github.",
        lookup_expr="startswith",
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="decided_at", lookup_expr="gte", label="From (UTC)", widget=DATETIME_WIDGET
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="decided_at", lookup_expr="lt", label="Until (UTC)", widget=DATETIME_WIDGET
    )

    class Meta:
        model = PolicyDecision
        form = AuditFilterForm  # the same "until after since" check as the audit page
        fields = ["identity", "gateway", "decision", "tool", "since", "until"]
