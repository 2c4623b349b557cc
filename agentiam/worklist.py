"""What a person must do: every app registers the work it knows about; the home page shows it in one panel.

    worklist.register(WorkSource("orphans", orphaned_identities, roles=frozenset({Role.ADMINISTRATOR})))

A source is a callable `person → items`; it scopes its own queries to that person (the registry cannot
know what an app's rows mean) and runs only for people holding one of `roles` (None: any role; a person
without a role has no work). Items with nothing waiting are left out. Sources register from their app's
`AppConfig.ready()`, so this module imports no app. Elevation requests, review items and alerts will add
sources the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from agentiam.permissions import Role, roles_of


@dataclass(frozen=True)
class WorkItem:
    key: str
    title: str  # what to do, as the person reads it: "Identities without an accountable owner"
    url: str  # where to do it: a list already filtered to these items
    count: int
    oldest: datetime | None = None  # since when the oldest item has waited, when the source knows


@dataclass(frozen=True)
class WorkSource:
    key: str
    items: Callable[[object], Iterable[WorkItem]]
    roles: frozenset[Role] | None = None
    order: int = 100


_SOURCES: dict[str, WorkSource] = {}


def register(source: WorkSource) -> WorkSource:
    _SOURCES[source.key] = source
    return source


def unregister(key: str) -> None:
    _SOURCES.pop(key, None)


def items_for(person) -> list[WorkItem]:
    """The person's waiting work: sources their roles allow, in source order, empty items left out."""
    roles = roles_of(person)
    if not roles:
        return []
    found = []
    for source in sorted(_SOURCES.values(), key=lambda source: (source.order, source.key)):
        if source.roles is None or roles & source.roles:
            found += [item for item in source.items(person) if item.count > 0]
    return found
