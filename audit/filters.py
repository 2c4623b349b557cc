"""Filters of the audit trail, shared by the audit page and the API: actor, object, action, time range.

Every filter is an equality or a prefix on an indexed column (or a range on occurred_at), so it stays fast
on a trail of millions of entries."""

from __future__ import annotations

import django_filters
from django import forms

from agentiam.filtering import UTCDateTimeFilter
from audit.models import AuditEntry

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"}, format="%Y-%m-%dT%H:%M")
RANGE_BACKWARDS = "The end of the time range must be after its start."


class AuditFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until <= since:
            self.add_error("until", RANGE_BACKWARDS)
        return data


class AuditEntryFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(
        field_name="actor_label",
        label="Actor",
        help_text='Who acted: a username, an API client\'s name or "system" (exact).',
        widget=forms.TextInput(attrs={"placeholder": "username or client"}),
    )
    action = django_filters.CharFilter(
        field_name="action",
        lookup_expr="startswith",
        label="Action",
        help_text='An action or its prefix: "role." matches every role change.',
        widget=forms.TextInput(attrs={"placeholder": "e.g. role.grant"}),
    )
    object_type = django_filters.CharFilter(
        field_name="object_type",
        label="Object type",
        help_text="What kind of object the entry is about, e.g. auth.user (exact).",
        widget=forms.TextInput(attrs={"placeholder": "e.g. auth.user"}),
    )
    object_id = django_filters.CharFilter(
        field_name="object_id",
        label="Object id",
        help_text="The object's public id (exact); combine with object_type.",
        widget=forms.TextInput(attrs={"placeholder": "id or uuid"}),
    )
    since = UTCDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="gte",
        label="From (UTC)",
        help_text="Entries at or after this time.",
        widget=DATETIME_WIDGET,
    )
    until = UTCDateTimeFilter(
        field_name="occurred_at",
        lookup_expr="lt",
        label="Until (UTC)",
        help_text="Entries before this time.",
        widget=DATETIME_WIDGET,
    )

    class Meta:
        model = AuditEntry
        form = AuditFilterForm
        fields = ["actor", "action", "object_type", "object_id", "since", "until"]
