"""The main navigation: each entry names the roles that may open it, and a person sees only those."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from agentiam.permissions import ALL_ROLES, Role, roles_of


@dataclass(frozen=True)
class NavEntry:
    section: str
    label: str
    url_name: str
    roles: frozenset[Role] | None  # None: any signed-in person


NAV: list[NavEntry] = [
    NavEntry("Overview", "Dashboard", "dashboard", None),
]


def register(entry: NavEntry) -> None:
    if all(existing.url_name != entry.url_name for existing in NAV):
        NAV.append(entry)


def navigation_for(request) -> list[dict]:
    """Sections with the entries this person may open, in declaration order."""
    roles = roles_of(request.user)
    current = request.resolver_match.url_name if request.resolver_match else None
    sections: dict[str, list[dict]] = {}
    for entry in NAV:
        if entry.roles is not None and not (roles & entry.roles):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        sections.setdefault(entry.section, []).append(
            {"label": entry.label, "url": url, "active": entry.url_name == current}
        )
    return [{"name": name, "entries": entries} for name, entries in sections.items()]


__all__ = ["ALL_ROLES", "NAV", "NavEntry", "navigation_for", "register"]
