"""Dashboard panels: each app contributes the numbers it owns, and a person sees only the panels their
roles allow — the same pattern as the navigation registry.

    # audit/urls.py
    register_panel(Panel("audit", "audit/dashboard_panel.html", SEE_EVERYTHING, views.dashboard_panel, order=20))

`context(request)` computes the panel's figures from live data; it runs only for people who see the panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from agentiam.permissions import SEE_EVERYTHING, Role, roles_of


@dataclass(frozen=True)
class Panel:
    key: str
    template: str
    roles: frozenset[Role] | None  # None: any signed-in person
    context: Callable[[HttpRequest], dict]
    order: int = 100


PANELS: list[Panel] = []


def register_panel(panel: Panel) -> None:
    if all(existing.key != panel.key for existing in PANELS):
        PANELS.append(panel)


def panels_for(request: HttpRequest) -> list[dict]:
    roles = roles_of(request.user)
    visible = [panel for panel in PANELS if panel.roles is None or roles & panel.roles]
    return [
        {"key": panel.key, "template": panel.template, **panel.context(request)}
        for panel in sorted(visible, key=lambda panel: (panel.order, panel.key))
    ]


def _persons_context(request: HttpRequest) -> dict:
    from agentiam.status import persons_summary

    return {"persons": persons_summary()}


register_panel(Panel("persons", "dashboard/persons_panel.html", SEE_EVERYTHING, _persons_context, order=10))
