"""Template helpers of the registry pages: risk tiers, flags, scopes and capabilities, in one vocabulary."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join

from identities.models import Flag, RiskTier
from identities.risk import CAPABILITIES

register = template.Library()

TIER_LABELS = dict(RiskTier.choices)
FLAG_LABELS = dict(Flag.choices)


@register.simple_tag
def tier_badge(tier, large=False):
    """The one way a risk tier is drawn: low (green) → critical (solid red)."""
    size = " badge-lg" if large else ""
    label = TIER_LABELS.get(tier, str(tier).capitalize())
    return format_html('<span class="badge tier tier-{}{}">{}</span>', tier, size, label)


@register.filter
def flag_label(flag) -> str:
    return FLAG_LABELS.get(flag, str(flag).replace("_", " "))


@register.filter
def capability_label(code) -> str:
    return CAPABILITIES.get(code, str(code).replace("_", " "))


@register.simple_tag
def scope_chips(scope):
    """attribute = pattern chips; an empty scope is the whole tool."""
    if not scope:
        return format_html('<span class="muted small">{}</span>', "whole tool")
    return format_html_join(
        "",
        '<span class="scope-chip"><span class="scope-key">{}</span><span class="mono">{}</span></span>',
        sorted(scope.items()),
    )


@register.filter
def listed_flags(flags) -> list[str]:
    """Flags for a list row: "orphaned" has its own column there (the owner)."""
    return [flag for flag in flags or () if flag != Flag.ORPHANED]


FLAG_SHORT = {
    Flag.ORPHANED: "Orphaned",
    Flag.AUP_MISSING: "No acceptable use",
    Flag.AUP_EXPIRED: "AUP expired",
    Flag.FAN_OUT: "Fan-out",
    Flag.SHARED_CREDENTIAL: "Shared credential",
    Flag.OLD_STATIC_SECRET: "Old static secret",
    Flag.UNEXCEPTED_PRIVILEGE: "No exception",
}


@register.filter
def flag_short(flag) -> str:
    """A flag's name where space is tight (list rows); the full label goes in the title."""
    return FLAG_SHORT.get(flag, flag_label(flag))
