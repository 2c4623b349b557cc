"""`{% page_slots "page" obj %}`: the panels other apps registered for this page (agentiam.slots)."""

from __future__ import annotations

from django import template

from agentiam.slots import render_slots

register = template.Library()


@register.simple_tag(takes_context=True)
def page_slots(context, page: str, obj=None):
    return render_slots(page, context["request"], obj)
