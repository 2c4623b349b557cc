"""Page slots: an upper app adds a panel to another app's page without that page importing it.

A page names its slots in its template — `{% load slots %}{% page_slots "identity_detail" identity %}` —
and any app registers what goes there from its `AppConfig.ready()`:

    slots.register(Slot("identity_detail", "chains", "events/identity_chains.html", chains_context,
                        roles=SEE_EVERYTHING, order=20))

`context(request, obj)` runs only for people holding one of `roles` (None: anyone who sees the page) and
returns the template's context, or None when it has nothing to show for this object or person; it scopes
its own reads to `request.user` (the page has already decided the person may see `obj`). The template
gets that context plus `object`. Slots render in `order`, then key.

Slots in use: `identity_detail` (the identity page's main column, after its history); `review_identity` (beside
each identity's evidence on "My reviews": it renders once per identity on the page, so a slot there reads for the
whole page at its first call and keeps the answer on the request — the page names its objects first with
`prime(request, "review_identity", identities)`, and the slot reads them back with `primed(request, page)`; the
events app's recent chain steps and their gateway decisions go there, audit/events/slots.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from agentiam.permissions import Role, roles_of


@dataclass(frozen=True)
class Slot:
    page: str
    key: str
    template: str
    context: Callable[[HttpRequest, Any], dict | None]
    roles: frozenset[Role] | None = None
    order: int = 100


_SLOTS: dict[tuple[str, str], Slot] = {}


def register(slot: Slot) -> Slot:
    _SLOTS[slot.page, slot.key] = slot
    return slot


def unregister(page: str, key: str) -> None:
    _SLOTS.pop((page, key), None)


def prime(request: HttpRequest, page: str, objects) -> None:
    """The page says which objects it will render `page`'s slots for (so a slot reads for all of them at once)."""
    primed_objects = getattr(request, "_slot_objects", None)
    if primed_objects is None:
        primed_objects = request._slot_objects = {}
    primed_objects[page] = [obj for obj in objects if obj is not None]


def primed(request: HttpRequest, page: str) -> list:
    """The objects the page named for `page` (empty when it named none: read for the one object asked)."""
    return list(getattr(request, "_slot_objects", {}).get(page, []))


def slots_for(page: str, request: HttpRequest) -> list[Slot]:
    roles = roles_of(request.user)
    found = [slot for (name, _), slot in _SLOTS.items() if name == page and (slot.roles is None or roles & slot.roles)]
    return sorted(found, key=lambda slot: (slot.order, slot.key))


def render_slots(page: str, request: HttpRequest, obj: Any) -> SafeString:
    parts = []
    for slot in slots_for(page, request):
        context = slot.context(request, obj)
        if context is not None:
            parts.append(render_to_string(slot.template, {**context, "object": obj}, request=request))
    return mark_safe("".join(parts))  # noqa: S308 - each part is a rendered, auto-escaped template
