"""Template helpers of the elevation pages."""

from __future__ import annotations

from django import template

from agentiam.permissions import roles_of
from reviews.forms import minutes
from reviews.services.breakglass import REVIEW_READERS

register = template.Library()


@register.filter
def duration_words(seconds) -> str:
    """3600 → "1 h"; 5400 → "1 h 30 min"."""
    try:
        return minutes(int(seconds))
    except (TypeError, ValueError):
        return ""


@register.filter
def reads_break_glass(user) -> bool:
    """Whether the elevation area's tabs lead this person to the break-glass reviews (hidden ⇔ forbidden)."""
    return bool(roles_of(user) & REVIEW_READERS)
