"""Template helpers of the design system: status badges with one colour vocabulary, readable JSON."""

from __future__ import annotations

import json

from django import template
from django.utils.html import format_html

register = template.Library()

# One tone per meaning, everywhere: ok (green), warn (amber), danger (red), info (blue), muted (grey).
STATUS_TONES = {
    "ok": (
        "active",
        "allowed",
        "allow",
        "approved",
        "certified",
        "completed",
        "confirmed",
        "ok",
        "passed",
        "valid",
        "low",
    ),
    "warn": ("pending", "requested", "expiring", "open", "suspended", "medium", "stale", "reduce"),
    "danger": ("disabled", "revoked", "denied", "deny", "failed", "expired", "orphaned", "high", "critical", "error"),
    "muted": ("departed", "closed", "draft", "retired", "none", "unknown", "withdrawn"),
}
_TONE_OF = {status: tone for tone, statuses in STATUS_TONES.items() for status in statuses}

# Audit actions read by their verb (the last dotted part): "role.grant", "person.disable", "login.failed".
ACTION_TONES = {
    "ok": ("create", "grant", "enable", "approve", "certify", "activate", "login", "issue"),
    "danger": ("revoke", "disable", "delete", "deny", "suspend", "failed", "fail", "reject", "break_glass"),
    "warn": ("update", "change", "override", "rotate", "reset", "step_up", "resume", "edit"),
}
_ACTION_TONE_OF = {verb: tone for tone, verbs in ACTION_TONES.items() for verb in verbs}


@register.filter
def status_tone(value) -> str:
    return _TONE_OF.get(str(value).lower(), "info")


@register.simple_tag
def status_badge(value, label=None):
    """<span class="badge badge-ok">Active</span> for "active"; unknown statuses are blue (info)."""
    text = label if label is not None else str(value).replace("_", " ").capitalize()
    return format_html('<span class="badge badge-{}">{}</span>', status_tone(value), text)


@register.filter
def action_tone(action) -> str:
    verb = str(action).rsplit(".", 1)[-1].lower()
    return _ACTION_TONE_OF.get(verb, "info")


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
