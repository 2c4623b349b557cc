"""The main navigation: each entry names the roles that may open it, and a person sees only those."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from agentiam.permissions import ALL_ROLES, Role, roles_of


@dataclass(frozen=True)
class NavEntry:
    section: str
    label: str
    url_name: str
    roles: frozenset[Role] | None  # None: any signed-in person
    # What waits there for this person (person → count), shown beside the label; it runs only for people who
    # see the entry. Its element id is `nav-count-<key>`, so an htmx answer can update it out of band.
    count: Callable[[object], int] | None = None
    key: str = ""
    # Entries of one area are tabs of the same pages (each page links to the others): a person is shown one
    # way in (the entry for their roles) and may open the area's other tabs from there. Hidden ⇔ forbidden
    # holds per area: tests/browser/test_roles.py checks that a tab opened without its entry is linked from
    # a page the person is shown.
    area: str = ""
    # Also shown to a person outside `roles` for whom this says yes (e.g. anyone a review campaign names as a
    # reviewer, whatever their role); it runs only for people the roles do not name.
    also: Callable[[object], bool] | None = None


NAV: list[NavEntry] = [
    NavEntry("Overview", "Dashboard", "dashboard", None),
]


def register(entry: NavEntry) -> None:
    if all(existing.url_name != entry.url_name for existing in NAV):
        NAV.append(entry)


# Sections appear in this order (others, added later, go between Governance and Administration).
SECTION_ORDER = ("Overview", "Identities", "Access", "Governance", "Administration", "Account")


def _section_rank(name: str) -> int:
    if name in SECTION_ORDER:
        return SECTION_ORDER.index(name) * 10
    return SECTION_ORDER.index("Administration") * 10 - 5


def navigation_for(request) -> list[dict]:
    """Sections with the entries this person may open. The current page's entry is active: the one whose
    view answered, or else the one whose URL is the longest prefix of the path (an entry's detail pages)."""
    roles = roles_of(request.user)
    match = request.resolver_match
    current = match.view_name if match else None
    sections: dict[str, list[dict]] = {}
    for entry in NAV:
        named = entry.roles is None or bool(roles & entry.roles)
        if not named and (entry.also is None or not entry.also(request.user)):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        item = {"label": entry.label, "url": url, "active": entry.url_name == current}
        if entry.count is not None:
            item["count"], item["count_id"] = entry.count(request.user), f"nav-count-{entry.key or entry.url_name}"
        sections.setdefault(entry.section, []).append(item)
    entries = [item for items in sections.values() for item in items]
    if not any(item["active"] for item in entries):
        prefixed = [item for item in entries if item["url"] != "/" and request.path.startswith(item["url"])]
        if prefixed:
            max(prefixed, key=lambda item: len(item["url"]))["active"] = True
    ordered = sorted(sections.items(), key=lambda pair: _section_rank(pair[0]))
    return [{"name": name, "entries": items} for name, items in ordered]


__all__ = ["ALL_ROLES", "NAV", "NavEntry", "navigation_for", "register"]
