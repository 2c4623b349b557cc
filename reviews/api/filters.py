"""Filters of the elevation-request list (django-filter)."""

from __future__ import annotations

import django_filters

from reviews import selectors
from reviews.models import ElevationRequest, RequestState, Urgency


class ElevationRequestFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=RequestState.choices)
    urgency = django_filters.ChoiceFilter(choices=Urgency.choices)
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Identity (its id)")
    task = django_filters.UUIDFilter(field_name="task__uuid", label="Task (its id)")
    to_decide = django_filters.BooleanFilter(
        method="by_to_decide", label="Only those I may approve or deny now (true), or the others (false)"
    )

    class Meta:
        model = ElevationRequest
        fields = ["state", "urgency", "identity", "task", "to_decide"]

    def by_to_decide(self, queryset, name, value):
        mine = selectors.requests_to_decide(self.request.user).values("pk")
        return queryset.filter(pk__in=mine) if value else queryset.exclude(pk__in=mine)
