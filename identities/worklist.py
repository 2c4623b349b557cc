"""The registry's work for a person (agentiam.worklist): identities nobody is accountable for, for the
administrators who assign owners, and an owner's own flagged identities. Registered from
IdentitiesConfig.ready()."""

from __future__ import annotations

from django.urls import reverse

from agentiam import worklist
from agentiam.permissions import Role
from agentiam.worklist import WorkItem, WorkSource
from identities.models.registry import Identity


def orphaned_identities(person) -> list[WorkItem]:
    count = Identity.objects.restrict(person, "view").orphaned().count()
    return [
        WorkItem("orphans", "Identities without an accountable owner", reverse("identities") + "?orphaned=true", count)
    ]


def my_flagged_identities(person) -> list[WorkItem]:
    count = Identity.objects.restrict(person, "view").owned_by(person).flagged().count()
    url = reverse("identity_mine") + "?flagged=any"
    return [WorkItem("my_flagged", "Your identities with flags to resolve", url, count)]


worklist.register(WorkSource("orphans", orphaned_identities, roles=frozenset({Role.ADMINISTRATOR}), order=10))
worklist.register(WorkSource("my_flagged", my_flagged_identities, roles=frozenset({Role.IDENTITY_OWNER}), order=20))
