"""Triage forms of the alert page (each posts `action` with its own fields) and the alert list's filters."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from agentiam.permissions import Role
from audit.alerts.models import Alert, AlertState, Rule, Severity

STATE_CHOICES = [("waiting", "Waiting for triage"), *AlertState.choices]


class AlertFilter(django_filters.FilterSet):
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="by_state")
    rule = django_filters.ChoiceFilter(choices=Rule.choices)
    identity = django_filters.UUIDFilter(field_name="identity__uuid", label="Identity (its id)")

    class Meta:
        model = Alert
        fields = ["severity", "state", "rule", "identity"]

    def by_state(self, queryset, name, value):
        if value == "waiting":
            return queryset.filter(
                Q(state=AlertState.OPEN) | Q(state=AlertState.SUPPRESSED, suppressed_until__lte=timezone.now())
            )
        return queryset.filter(state=value)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), to_field_name="username")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        people = get_user_model().objects.filter(is_active=True, groups__name=Role.SECURITY_ANALYST.value)
        self.fields["assignee"].queryset = people.order_by("username")
        self.fields["assignee"].label_from_instance = lambda person: person.get_full_name() or person.username


class ResolveForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Why it is resolved")


class SuppressForm(forms.Form):
    until = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Until (UTC)")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Why")


class AcknowledgeForm(forms.Form):
    pass


FORMS = {"assign": AssignForm, "acknowledge": AcknowledgeForm, "resolve": ResolveForm, "suppress": SuppressForm}
