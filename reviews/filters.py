"""Filters of the elevation history: state, identity, requester and when it was asked."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from agentiam.filtering import UTCDateTimeFilter, text_filter
from audit.filters import DATETIME_WIDGET, AuditFilterForm
from reviews.models import BreakGlass, ElevationRequest, RequestState
from reviews.services.breakglass import overdue_since


class HistoryFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=RequestState.choices, label="State", empty_label="Any state")
    identity = text_filter(
        "identity__name",
        "Identity",
        "The identity's name, or its start.",
        "e.g. triage-bot",
        lookup_expr="istartswith",
    )
    requester = django_filters.CharFilter(
        method="by_requester",
        label="Requested by",
        help_text="The requester's username, or the name of an agent that asked for itself.",
        widget=forms.TextInput(attrs={"placeholder": "username"}),
    )
    since = UTCDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Asked from (UTC)", widget=DATETIME_WIDGET
    )
    until = UTCDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Asked until (UTC)", widget=DATETIME_WIDGET
    )

    class Meta:
        model = ElevationRequest
        form = AuditFilterForm  # "until after since"
        fields = ["state", "identity", "requester", "since", "until"]

    def by_requester(self, queryset, name, value):
        return queryset.filter(Q(requested_by__username__iexact=value) | Q(requested_by_identity__name__iexact=value))


class BreakGlassFilter(django_filters.FilterSet):
    """Filters of the break-glass review list: where the review stands, the identity, who broke the glass."""

    state = django_filters.ChoiceFilter(
        choices=[("open", "Open"), ("overdue", "Overdue"), ("closed", "Closed")],
        method="by_state",
        label="Review",
        empty_label="Any",
        help_text="Open: not closed yet (overdue ones too); overdue: open past the review window.",
    )
    identity = text_filter(
        "identity__name", "Identity", "The identity's name, or its start.", "e.g. triage-bot", lookup_expr="istartswith"
    )
    person = django_filters.CharFilter(
        field_name="person__username",
        lookup_expr="iexact",
        label="Broken by",
        help_text="The username of the person who broke the glass.",
        widget=forms.TextInput(attrs={"placeholder": "username"}),
    )
    since = UTCDateTimeFilter(
        field_name="started_at", lookup_expr="gte", label="Started from (UTC)", widget=DATETIME_WIDGET
    )
    until = UTCDateTimeFilter(field_name="started_at", lookup_expr="lt", label="Started until (UTC)",
                              widget=DATETIME_WIDGET)  # fmt: skip

    class Meta:
        model = BreakGlass
        form = AuditFilterForm  # "until after since"
        fields = ["state", "identity", "person", "since", "until"]

    def by_state(self, queryset, name, value):
        if value == "closed":
            return queryset.filter(closed_at__isnull=False)
        if value == "overdue":
            return queryset.filter(closed_at__isnull=True, started_at__lte=overdue_since())
        return queryset.filter(closed_at__isnull=True)
