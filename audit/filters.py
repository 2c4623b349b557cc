"""Filters of the audit trail, shared by the audit page and the API: actor, object, action, time range.

Every filter is an equality or a prefix on an indexed column (or a range on occurred_at), so it stays fast
on a trail of millions of entries."""

from __future__ import annotations

import django_filters
from django import forms

from agentiam.filtering import UTCDateTimeFilter, text_filter
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
    actor = text_filter(
        "actor_label",
        "Actor",
        'Who acted: a username, an API client\'s name or "system" (exact).',
        "username or client",
    )
    action = text_filter(
        "action",
        "Action",
        'An action or its prefix: "role." matches every role change.',
        "e.g. role.grant",
        lookup_expr="startswith",
    )
    object_type = text_filter(
        "object_type",
        "Object type",
        "What kind of object the entry is about, e.g. auth.user (exact).",
        "e.g. auth.user",
    )
    object_id = text_filter(
        "object_id", "Object id", "The object's public id (exact); combine with object_type.", "id or uuid"
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
