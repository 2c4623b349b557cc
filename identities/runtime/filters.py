"""Filters of the decision log. Each is an equality or prefix on a column of the partitioned table, or a
range on decided_at (the partition key), so PostgreSQL reads only the days asked for."""

from __future__ import annotations

import django_filters
from django import forms

from audit.filters import DATETIME_WIDGET, AuditFilterForm
from identities.runtime.models import Gateway, PolicyDecision, Verdict


class DecisionFilter(django_filters.FilterSet):
    identity = django_filters.UUIDFilter(
        field_name="identity__uuid",
        label="Identity id",
        help_text="The identity's id (the link on an identity's page fills it in).",
        widget=forms.TextInput(attrs={"placeholder": "identity UUID"}),
    )
    gateway = django_filters.ModelChoiceFilter(
        queryset=Gateway.objects.order_by("name"), to_field_name="uuid", label="Gateway", empty_label="Any gateway"
    )
    decision = django_filters.ChoiceFilter(choices=Verdict.choices, label="Decision", empty_label="Allow or deny")
    tool = django_filters.CharFilter(
        field_name="tool_key",
        lookup_expr="startswith",
        label="Tool",
        help_text='A tool key or its prefix: "github." matches every GitHub tool.',
        widget=forms.TextInput(attrs={"placeholder": "e.g. github."}),
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
