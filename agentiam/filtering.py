"""Filter building blocks shared by every list page and endpoint."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

OUT_OF_RANGE = "Enter a date and time between the years 1 and 9999."


class UTCDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, normalised to UTC before it reaches a query.

    PostgreSQL refuses some offsets Python accepts (e.g. +23:18), which would surface as a database error
    (a 500) for what is only bad input; converting to UTC here keeps every value the database can take."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(OUT_OF_RANGE, code="out_of_range") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


def text_filter(field_name: str, label: str, help_text: str, placeholder: str, *, lookup_expr: str = "exact",
                filter_class=django_filters.CharFilter):  # fmt: skip
    """A typed-in filter on one column, with the label, help and placeholder every list page shows."""
    return filter_class(
        field_name=field_name,
        lookup_expr=lookup_expr,
        label=label,
        help_text=help_text,
        widget=forms.TextInput(attrs={"placeholder": placeholder}),
    )
