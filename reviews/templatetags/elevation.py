"""Template helpers of the elevation pages."""

from __future__ import annotations

from django import template

from reviews.forms import minutes

register = template.Library()


@register.filter
def duration_words(seconds) -> str:
    """3600 → "1 h"; 5400 → "1 h 30 min"."""
    try:
        return minutes(int(seconds))
    except (TypeError, ValueError):
        return ""
