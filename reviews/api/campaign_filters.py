"""Filters of the campaign and campaign-run lists (django-filter)."""

from __future__ import annotations

import django_filters

from reviews.models import Campaign, CampaignRun
from reviews.models_campaigns import Recurrence, RunState


class CampaignFilter(django_filters.FilterSet):
    archived = django_filters.BooleanFilter(field_name="archived_at", lookup_expr="isnull", exclude=True,
                                            label="Archived (true) or in use (false)")  # fmt: skip
    recurrence = django_filters.ChoiceFilter(choices=Recurrence.choices)

    class Meta:
        model = Campaign
        fields = ["archived", "recurrence"]


class CampaignRunFilter(django_filters.FilterSet):
    campaign = django_filters.UUIDFilter(field_name="campaign__uuid", label="Campaign (its id)")
    state = django_filters.ChoiceFilter(choices=RunState.choices)

    class Meta:
        model = CampaignRun
        fields = ["campaign", "state"]
